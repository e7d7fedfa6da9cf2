package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The client's side of the handshake, as QEMU 7.2's nbd/client.c runs it: the greeting, then
 * options (structured replies, a metadata context, GO or INFO with a block-size request, LIST and
 * LIST_META_CONTEXT), with QEMU's messages for what a server may answer. A server that only takes
 * NBD_OPT_EXPORT_NAME or the oldstyle handshake is refused (qemu-nbd and nbdkit have spoken
 * fixed newstyle for a decade); so is one that requires TLS, which qcow4j does not speak.
 */
final class ClientNegotiation {
  /** The longest error message from a server we read (QEMU's NBD_MAX_BUFFER_SIZE). */
  private static final int MAX_MESSAGE = MAX_PAYLOAD;

  private final Wire wire;
  private boolean zeroes = true;
  private boolean structuredReplies;

  ClientNegotiation(Wire wire) {
    this.wire = wire;
  }

  /** A context the server agreed to, with the id its block status replies carry. */
  record Context(String name, int id) {}

  /** Reads the greeting and answers it; asks for structured replies when {@code structured}. */
  void start(boolean structured) throws IOException {
    long magic = wire.readLong();
    if (magic != NBDMAGIC) {
      throw new IOException("Bad initial magic received: 0x" + Long.toHexString(magic));
    }
    magic = wire.readLong();
    if (magic == 0x00420281861253L) {
      throw new IOException("Server uses the oldstyle handshake, which qcow4j does not speak");
    }
    if (magic != IHAVEOPT) {
      throw new IOException("Bad server magic received: 0x" + Long.toHexString(magic));
    }
    ByteBuffer flags = ByteBuffer.allocate(2);
    wire.readFully(flags);
    int serverFlags = Short.toUnsignedInt(flags.getShort(0));
    if ((serverFlags & FLAG_FIXED_NEWSTYLE) == 0) {
      throw new IOException("Server does not support fixed newstyle negotiation, which qcow4j needs");
    }
    int clientFlags = FLAG_C_FIXED_NEWSTYLE;
    if ((serverFlags & FLAG_NO_ZEROES) != 0) {
      clientFlags |= FLAG_C_NO_ZEROES;
      zeroes = false;
    }
    wire.write(ByteBuffer.allocate(4).putInt(clientFlags).flip());
    if (structured) {
      structuredReplies = simpleOption(OPT_STRUCTURED_REPLY);
    }
  }

  /** Whether the server agreed to structured replies. */
  boolean structuredReplies() {
    return structuredReplies;
  }

  /**
   * NBD_OPT_SET_META_CONTEXT with the one query {@code context}: the context, or null when the
   * server selected none or does not support the option.
   */
  Context setMetaContext(String export, String context) throws IOException {
    sendMetaQuery(OPT_SET_META_CONTEXT, export, context);
    Context received = receiveMetaContext(OPT_SET_META_CONTEXT);
    if (received == null) {
      return null;
    }
    if (!received.name().equals(context)) {
      abort();
      throw new IOException("Failed to negotiate meta context '" + context
          + "', server answered with different context '" + received.name() + "'");
    }
    if (receiveMetaContext(OPT_SET_META_CONTEXT) != null) {
      abort();
      throw new IOException("Server answered with more than one context");
    }
    return received;
  }

  /** NBD_OPT_LIST_META_CONTEXT with no query: every context the export has. */
  List<String> listMetaContexts(String export) throws IOException {
    sendMetaQuery(OPT_LIST_META_CONTEXT, export, null);
    List<String> names = new ArrayList<>();
    boolean seenQemu = false;
    while (true) {
      Context context = receiveMetaContext(OPT_LIST_META_CONTEXT);
      if (context == null && !names.isEmpty() && !seenQemu) {
        // qemu-nbd 3.0 listed no "qemu:" contexts for an empty query: ask for them by name
        seenQemu = true;
        sendMetaQuery(OPT_LIST_META_CONTEXT, export, "qemu:");
        continue;
      }
      if (context == null) {
        return names;
      }
      seenQemu |= context.name().startsWith("qemu:");
      names.add(context.name());
    }
  }

  /**
   * NBD_OPT_GO or NBD_OPT_INFO for {@code export}, asking for the block sizes when
   * {@code requestSizes}: what the server said of it, or null when it does not support the option.
   */
  ExportInfo info(int option, String export, boolean requestSizes) throws IOException {
    byte[] name = Frames.bytes(export);
    ByteBuffer data = ByteBuffer.allocate(4 + name.length + 2 + (requestSizes ? 2 : 0))
        .putInt(name.length).put(name).putShort((short) (requestSizes ? 1 : 0));
    if (requestSizes) {
      data.putShort((short) INFO_BLOCK_SIZE);
    }
    sendOption(option, data.flip());
    long size = 0;
    int flags = 0;
    int minBlock = 0;
    int optBlock = 0;
    int maxBlock = 0;
    while (true) {
      Frames.OptionReply reply = receiveReply(option);
      if (!handleError(reply, true)) {
        return null;
      }
      long length = reply.length();
      if (reply.type() == REP_ACK) {
        if (length != 0) {
          throw new IOException("server sent invalid NBD_REP_ACK");
        }
        if (flags == 0) {
          throw new IOException("broken server omitted NBD_INFO_EXPORT");
        }
        return new ExportInfo(export, null, size, flags, minBlock, optBlock, maxBlock, List.of());
      }
      if (reply.type() != REP_INFO) {
        abort();
        throw new IOException("unexpected reply type " + Integer.toUnsignedString(reply.type()) + " ("
            + replyName(reply.type()) + "), expected " + REP_INFO + " (" + replyName(REP_INFO) + ")");
      }
      if (length < 2) {
        abort();
        throw new IOException("NBD_REP_INFO length " + length + " is too short");
      }
      int type = Short.toUnsignedInt(readShort());
      length -= 2;
      switch (type) {
        case INFO_EXPORT -> {
          if (length != 10) {
            abort();
            throw new IOException("remaining export info len " + length + " is unexpected size");
          }
          size = wire.readLong();
          flags = Short.toUnsignedInt(readShort());
          if (minBlock != 0 && size % minBlock != 0) {
            abort();
            throw new IOException("export size " + Long.toUnsignedString(size)
                + " is not multiple of minimum block size " + minBlock);
          }
        }
        case INFO_BLOCK_SIZE -> {
          if (length != 12) {
            abort();
            throw new IOException("remaining export info len " + length + " is unexpected size");
          }
          minBlock = wire.readInt();
          if (Integer.bitCount(minBlock) != 1) {
            abort();
            throw new IOException("server minimum block size " + Integer.toUnsignedString(minBlock)
                + " is not a power of two");
          }
          optBlock = wire.readInt();
          if (Integer.bitCount(optBlock) != 1 || Integer.compareUnsigned(optBlock, minBlock) < 0) {
            abort();
            throw new IOException("server preferred block size " + Integer.toUnsignedString(optBlock)
                + " is not valid");
          }
          maxBlock = wire.readInt();
          if (Integer.compareUnsigned(maxBlock, minBlock) < 0) {
            abort();
            throw new IOException("server maximum block size " + Integer.toUnsignedString(maxBlock)
                + " is not valid");
          }
        }
        default -> wire.skip(length);
      }
    }
  }

  /** NBD_OPT_LIST: each export's name and description (null when it has none). */
  List<String[]> list() throws IOException {
    sendOption(OPT_LIST, ByteBuffer.allocate(0));
    List<String[]> exports = new ArrayList<>();
    while (true) {
      Frames.OptionReply reply = receiveReply(OPT_LIST);
      if (!handleError(reply, true)) {
        return exports;
      }
      long length = reply.length();
      if (reply.type() == REP_ACK) {
        if (length != 0) {
          abort();
          throw new IOException("length too long for option end");
        }
        return exports;
      }
      if (reply.type() != REP_SERVER) {
        abort();
        throw new IOException("Unexpected reply type " + Integer.toUnsignedString(reply.type()) + " ("
            + replyName(reply.type()) + "), expected " + REP_SERVER + " (" + replyName(REP_SERVER) + ")");
      }
      if (length < 4 || length > MAX_PAYLOAD) {
        abort();
        throw new IOException("incorrect option length " + length);
      }
      long nameLength = Integer.toUnsignedLong(wire.readInt());
      length -= 4;
      if (length < nameLength || nameLength > MAX_STRING) {
        abort();
        throw new IOException("incorrect name length in server's list response");
      }
      String name = Frames.utf8(wire.readBytes((int) nameLength));
      length -= nameLength;
      String description = null;
      if (length > 0) {
        if (length > MAX_STRING) {
          abort();
          throw new IOException("incorrect description length in server's list response");
        }
        description = Frames.utf8(wire.readBytes((int) length));
      }
      exports.add(new String[] {name, description});
    }
  }

  /** The padding an old server sends after NBD_OPT_EXPORT_NAME's reply; none after GO. */
  boolean zeroes() {
    return zeroes;
  }

  /** NBD_OPT_ABORT, as a courtesy before hanging up; the server's answer is not awaited. */
  void abort() {
    try {
      sendOption(OPT_ABORT, ByteBuffer.allocate(0));
    } catch (IOException e) {
      // the connection is being dropped anyway
    }
  }

  /** Sends an option without data; true when acknowledged, false when the server does not support it. */
  private boolean simpleOption(int option) throws IOException {
    sendOption(option, ByteBuffer.allocate(0));
    Frames.OptionReply reply = receiveReply(option);
    if (!handleError(reply, false)) {
      return false;
    }
    if (reply.type() != REP_ACK) {
      abort();
      throw new IOException("Server answered option " + option + " (" + optionName(option)
          + ") with unexpected reply " + Integer.toUnsignedString(reply.type()) + " (" + replyName(reply.type()) + ")");
    }
    if (reply.length() != 0) {
      abort();
      throw new IOException("Option " + option + " ('" + optionName(option) + "') response length is "
          + reply.length() + " (it should be zero)");
    }
    return true;
  }

  private void sendMetaQuery(int option, String export, String query) throws IOException {
    byte[] name = Frames.bytes(export);
    byte[] queryBytes = query == null ? null : Frames.bytes(query);
    ByteBuffer data = ByteBuffer.allocate(4 + name.length + 4 + (query == null ? 0 : 4 + queryBytes.length))
        .putInt(name.length).put(name).putInt(query == null ? 0 : 1);
    if (query != null) {
      data.putInt(queryBytes.length).put(queryBytes);
    }
    sendOption(option, data.flip());
  }

  /** One reply to a metadata context option: the context, or null at the end (or when unsupported). */
  private Context receiveMetaContext(int option) throws IOException {
    Frames.OptionReply reply = receiveReply(option);
    if (!handleError(reply, false)) {
      return null;
    }
    if (reply.type() == REP_ACK) {
      if (reply.length() != 0) {
        abort();
        throw new IOException("Unexpected length to ACK response");
      }
      return null;
    }
    if (reply.type() != REP_META_CONTEXT) {
      abort();
      throw new IOException("Unexpected reply type " + Integer.toUnsignedString(reply.type()) + " ("
          + replyName(reply.type()) + "), expected " + REP_META_CONTEXT + " (" + replyName(REP_META_CONTEXT) + ")");
    }
    if (reply.length() <= 4 || reply.length() > MAX_PAYLOAD) {
      abort();
      throw new IOException("Failed to negotiate meta context, server answered with unexpected length "
          + reply.length());
    }
    int id = wire.readInt();
    String name = Frames.utf8(wire.readBytes((int) reply.length() - 4));
    return new Context(name, id);
  }

  private void sendOption(int option, ByteBuffer data) throws IOException {
    wire.write(Frames.optionRequest(option, data.remaining()), data);
  }

  private Frames.OptionReply receiveReply(int option) throws IOException {
    ByteBuffer header = ByteBuffer.allocate(Frames.OPTION_REPLY_BYTES);
    wire.readFully(header);
    Frames.OptionReply reply = Frames.OptionReply.decode(header.flip());
    if (reply.magic() != REPLY_MAGIC) {
      throw new IOException("Unexpected option reply magic");
    }
    if (reply.option() != option) {
      throw new IOException("Unexpected option type " + Integer.toUnsignedString(reply.option()) + " ("
          + optionName(reply.option()) + "), expected " + option + " (" + optionName(option) + ")");
    }
    return reply;
  }

  /**
   * QEMU's nbd_handle_reply_err: true for a reply that is not an error; false for an error that
   * means "not supported" (ERR_UNSUP, or any error when not {@code strict}); any other error
   * fails with QEMU's message and, on a second line, what the server reported.
   */
  private boolean handleError(Frames.OptionReply reply, boolean strict) throws IOException {
    if (!reply.isError()) {
      return true;
    }
    String message = null;
    if (reply.length() > 0) {
      if (reply.length() > MAX_MESSAGE) {
        abort();
        throw new IOException("server error " + Integer.toUnsignedString(reply.type()) + " ("
            + replyName(reply.type()) + ") message is too long");
      }
      message = Frames.utf8(wire.readBytes((int) reply.length()));
    }
    if (reply.type() == REP_ERR_UNSUP || !strict) {
      return false;
    }
    String option = reply.option() + " (" + optionName(reply.option()) + ")";
    String hint = null;
    String error = switch (reply.type()) {
      case REP_ERR_POLICY -> "Denied by server for option " + option;
      case REP_ERR_INVALID -> "Invalid parameters for option " + option;
      case REP_ERR_PLATFORM -> "Server lacks support for option " + option;
      case REP_ERR_TLS_REQD -> {
        hint = "Did you forget a valid tls-creds?";
        yield "TLS negotiation required before option " + option;
      }
      case REP_ERR_UNKNOWN -> "Requested export not available";
      case REP_ERR_SHUTDOWN -> "Server shutting down before option " + option;
      case REP_ERR_BLOCK_SIZE_REQD -> "Server requires INFO_BLOCK_SIZE for option " + option;
      default -> "Unknown error code when asking for option " + option;
    };
    if (message != null) {
      hint = (hint == null ? "" : hint + "\n") + "server reported: " + message;
    }
    abort();
    throw new NbdOptionException(error, hint);
  }

  private short readShort() throws IOException {
    ByteBuffer buffer = ByteBuffer.allocate(2);
    wire.readFully(buffer);
    return buffer.getShort(0);
  }

  /** QEMU's nbd_opt_lookup. */
  static String optionName(int option) {
    return switch (option) {
      case OPT_EXPORT_NAME -> "export name";
      case OPT_ABORT -> "abort";
      case OPT_LIST -> "list";
      case OPT_STARTTLS -> "starttls";
      case OPT_INFO -> "info";
      case OPT_GO -> "go";
      case OPT_STRUCTURED_REPLY -> "structured reply";
      case OPT_LIST_META_CONTEXT -> "list meta context";
      case OPT_SET_META_CONTEXT -> "set meta context";
      default -> "<unknown>";
    };
  }

  /** QEMU's nbd_rep_lookup. */
  static String replyName(int type) {
    return switch (type) {
      case REP_ACK -> "ack";
      case REP_SERVER -> "server";
      case REP_INFO -> "info";
      case REP_META_CONTEXT -> "meta context";
      case REP_ERR_UNSUP -> "unsupported";
      case REP_ERR_POLICY -> "denied by policy";
      case REP_ERR_INVALID -> "invalid";
      case REP_ERR_PLATFORM -> "platform lacks support";
      case REP_ERR_TLS_REQD -> "TLS required";
      case REP_ERR_UNKNOWN -> "export unknown";
      case REP_ERR_SHUTDOWN -> "server shutting down";
      case REP_ERR_BLOCK_SIZE_REQD -> "block size required";
      default -> "<unknown>";
    };
  }
}
