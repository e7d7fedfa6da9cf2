package io.qcow4j.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A minimal NBD client speaking the wire format byte by byte, for the protocol tests. */
final class NbdTestClient implements AutoCloseable {
  static final long NBDMAGIC = 0x4e42444d41474943L;
  static final long IHAVEOPT = 0x49484156454f5054L;
  static final long REPLY_MAGIC = 0x3e889045565a9L;

  /** One option reply. */
  record OptionReply(int option, int type, byte[] data) {
    boolean isError() {
      return type < 0;
    }

    ByteBuffer buffer() {
      return ByteBuffer.wrap(data);
    }

    String text() {
      return new String(data, StandardCharsets.UTF_8);
    }
  }

  /** One structured reply chunk. */
  record Chunk(int flags, int type, byte[] payload) {
    boolean done() {
      return (flags & Protocol.REPLY_FLAG_DONE) != 0;
    }

    ByteBuffer buffer() {
      return ByteBuffer.wrap(payload);
    }
  }

  /** A whole reply: a simple one (error and, for a read, data), or the chunks of a structured one. */
  record Reply(long cookie, boolean structured, int error, byte[] data, List<Chunk> chunks) {
    /** The error of a simple reply or of the first error chunk; 0 on success. */
    int errorCode() {
      if (!structured) {
        return error;
      }
      for (Chunk chunk : chunks) {
        if ((chunk.type() & 0x8000) != 0) {
          return chunk.buffer().getInt();
        }
      }
      return 0;
    }

    /** The bytes a successful read returned, reassembled from data and hole chunks. */
    byte[] readData(long offset, int length) {
      if (!structured) {
        return data;
      }
      byte[] result = new byte[length];
      boolean[] covered = new boolean[length];
      for (Chunk chunk : chunks) {
        ByteBuffer payload = chunk.buffer();
        if (chunk.type() == Protocol.REPLY_TYPE_OFFSET_DATA) {
          int at = (int) (payload.getLong() - offset);
          int count = payload.remaining();
          payload.get(result, at, count);
          mark(covered, at, count);
        } else if (chunk.type() == Protocol.REPLY_TYPE_OFFSET_HOLE) {
          int at = (int) (payload.getLong() - offset);
          mark(covered, at, payload.getInt());
        }
      }
      for (boolean each : covered) {
        assertThat(each).as("every byte of the read is covered exactly once").isTrue();
      }
      return result;
    }

    private static void mark(boolean[] covered, int at, int count) {
      for (int i = at; i < at + count; i++) {
        assertThat(covered[i]).as("chunks overlap at " + i).isFalse();
        covered[i] = true;
      }
    }
  }

  /** What NBD_OPT_GO or NBD_OPT_EXPORT_NAME told about the export. */
  record ExportInfo(long size, int flags) {}

  private final SocketChannel channel;
  private final DataInputStream in;
  private final DataOutputStream out;
  private final Map<Long, Integer> pendingReads = new HashMap<>();
  private final Map<Long, List<Chunk>> partial = new HashMap<>();
  private final Map<Long, Reply> early = new HashMap<>();
  boolean structured;

  private NbdTestClient(SocketChannel channel) {
    this.channel = channel;
    this.in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(channel)));
    this.out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(channel)));
  }

  static NbdTestClient connect(SocketAddress address) throws IOException {
    SocketChannel channel = address instanceof UnixDomainSocketAddress
        ? SocketChannel.open(StandardProtocolFamily.UNIX)
        : SocketChannel.open();
    channel.connect(address instanceof InetSocketAddress inet ? inet : address);
    return new NbdTestClient(channel);
  }

  /** Connects, negotiates (structured replies and base:allocation when asked) and enters transmission with GO. */
  static NbdTestClient open(SocketAddress address, boolean structuredReplies, boolean metaContext)
      throws IOException {
    NbdTestClient client = connect(address);
    client.greet(Protocol.FLAG_C_FIXED_NEWSTYLE | Protocol.FLAG_C_NO_ZEROES);
    if (structuredReplies) {
      assertThat(client.option(Protocol.OPT_STRUCTURED_REPLY, new byte[0]).type()).isEqualTo(Protocol.REP_ACK);
      client.structured = true;
    }
    if (metaContext) {
      List<OptionReply> replies = client.options(Protocol.OPT_SET_META_CONTEXT, metaQuery("", "base:allocation"));
      assertThat(replies.getLast().type()).isEqualTo(Protocol.REP_ACK);
    }
    client.go("");
    return client;
  }

  ExportInfo info;

  /** Reads the greeting, checks it, sends the client flags; returns the handshake flags. */
  int greet(int clientFlags) throws IOException {
    int flags = readGreeting();
    out.writeInt(clientFlags);
    out.flush();
    return flags;
  }

  int readGreeting() throws IOException {
    assertThat(in.readLong()).isEqualTo(NBDMAGIC);
    assertThat(in.readLong()).isEqualTo(IHAVEOPT);
    return in.readUnsignedShort();
  }

  void sendOption(int option, byte[] data) throws IOException {
    sendOptionHeader(option, data.length);
    out.write(data);
    out.flush();
  }

  void sendOptionHeader(int option, long length) throws IOException {
    out.writeLong(IHAVEOPT);
    out.writeInt(option);
    out.writeInt((int) length);
  }

  OptionReply readOptionReply() throws IOException {
    assertThat(in.readLong()).isEqualTo(REPLY_MAGIC);
    int option = in.readInt();
    int type = in.readInt();
    int length = in.readInt();
    byte[] data = new byte[length];
    in.readFully(data);
    return new OptionReply(option, type, data);
  }

  /** Sends an option with one final reply (ACK or error) and returns that reply. */
  OptionReply option(int option, byte[] data) throws IOException {
    return options(option, data).getLast();
  }

  /** Sends an option and reads its replies up to and including the final ACK or error. */
  List<OptionReply> options(int option, byte[] data) throws IOException {
    sendOption(option, data);
    List<OptionReply> replies = new ArrayList<>();
    while (true) {
      OptionReply reply = readOptionReply();
      assertThat(reply.option()).isEqualTo(option);
      replies.add(reply);
      if (reply.type() == Protocol.REP_ACK || reply.isError()) {
        return replies;
      }
    }
  }

  /** NBD_OPT_GO for {@code name}, asking for every information item; fails unless it is accepted. */
  List<OptionReply> go(String name) throws IOException {
    List<OptionReply> replies = options(Protocol.OPT_GO, infoRequest(name, 0, 1, 2, 3));
    assertThat(replies.getLast().type()).as(replies.getLast().text()).isEqualTo(Protocol.REP_ACK);
    for (OptionReply reply : replies) {
      ByteBuffer data = reply.buffer();
      if (reply.type() == Protocol.REP_INFO && data.getShort() == Protocol.INFO_EXPORT) {
        info = new ExportInfo(data.getLong(), Short.toUnsignedInt(data.getShort()));
      }
    }
    return replies;
  }

  static byte[] infoRequest(String name, int... items) {
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    ByteBuffer data = ByteBuffer.allocate(4 + nameBytes.length + 2 + 2 * items.length);
    data.putInt(nameBytes.length).put(nameBytes).putShort((short) items.length);
    for (int item : items) {
      data.putShort((short) item);
    }
    return data.array();
  }

  static byte[] metaQuery(String name, String... queries) {
    byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
    int length = 4 + nameBytes.length + 4;
    for (String query : queries) {
      length += 4 + query.getBytes(StandardCharsets.UTF_8).length;
    }
    ByteBuffer data = ByteBuffer.allocate(length).putInt(nameBytes.length).put(nameBytes).putInt(queries.length);
    for (String query : queries) {
      byte[] bytes = query.getBytes(StandardCharsets.UTF_8);
      data.putInt(bytes.length).put(bytes);
    }
    return data.array();
  }

  void send(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
    out.writeInt(Protocol.REQUEST_MAGIC);
    out.writeShort(flags);
    out.writeShort(type);
    out.writeLong(cookie);
    out.writeLong(offset);
    out.writeInt((int) length);
    if (payload != null) {
      out.write(payload);
    }
    out.flush();
    if (type == Protocol.CMD_READ) {
      pendingReads.put(cookie, (int) length);
    }
  }

  /** Sends one request and waits for its whole reply. */
  Reply request(int flags, int type, long cookie, long offset, long length, byte[] payload) throws IOException {
    send(flags, type, cookie, offset, length, payload);
    return reply(cookie);
  }

  /** The whole reply to {@code cookie}; replies to other cookies that arrive first are kept. */
  Reply reply(long cookie) throws IOException {
    while (!early.containsKey(cookie)) {
      Reply reply = readAnyReply();
      assertThat(early).as("cookie %d answered twice", reply.cookie()).doesNotContainKey(reply.cookie());
      early.put(reply.cookie(), reply);
    }
    return early.remove(cookie);
  }

  /** Reads messages until some reply is complete, and returns it. */
  Reply readAnyReply() throws IOException {
    while (true) {
      int magic = in.readInt();
      if (magic == Protocol.SIMPLE_REPLY_MAGIC) {
        int error = in.readInt();
        long cookie = in.readLong();
        Integer readLength = pendingReads.remove(cookie);
        byte[] data = new byte[error == 0 && readLength != null ? readLength : 0];
        in.readFully(data);
        return new Reply(cookie, false, error, data, List.of());
      }
      assertThat(magic).as("reply magic").isEqualTo(Protocol.STRUCTURED_REPLY_MAGIC);
      int flags = in.readUnsignedShort();
      int type = in.readUnsignedShort();
      long cookie = in.readLong();
      int length = in.readInt();
      byte[] payload = new byte[length];
      in.readFully(payload);
      Chunk chunk = new Chunk(flags, type, payload);
      List<Chunk> chunks = partial.computeIfAbsent(cookie, key -> new ArrayList<>());
      chunks.add(chunk);
      if (chunk.done()) {
        partial.remove(cookie);
        pendingReads.remove(cookie);
        return new Reply(cookie, true, 0, null, chunks);
      }
    }
  }

  /** Reads {@code length} bytes at {@code offset}, failing on an error reply. */
  byte[] read(long offset, int length) throws IOException {
    Reply reply = request(0, Protocol.CMD_READ, nextCookie++, offset, length, null);
    assertThat(reply.errorCode()).isZero();
    return reply.readData(offset, length);
  }

  /** Writes {@code data} at {@code offset}; returns the error code. */
  int write(long offset, byte[] data, int flags) throws IOException {
    return request(flags, Protocol.CMD_WRITE, nextCookie++, offset, data.length, data).errorCode();
  }

  long nextCookie = 1;

  void writeRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  void writeInt(int value) throws IOException {
    out.writeInt(value);
    out.flush();
  }

  DataInputStream input() {
    return in;
  }

  /** Whether the server closed the connection: the next read sees end of stream (or a reset). */
  boolean serverClosed() {
    try {
      return in.read() < 0;
    } catch (EOFException e) {
      return true;
    } catch (IOException e) {
      return true;
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
