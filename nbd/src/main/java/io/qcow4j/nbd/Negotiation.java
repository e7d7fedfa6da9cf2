package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.*;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.BooleanSupplier;

/** The fixed newstyle handshake: greeting, then option haggling until the client goes to transmission. */
final class Negotiation {

  /** What the client negotiated for the transmission phase. */
  record Session(boolean structuredReplies, Contexts contexts, int transmissionFlags) {
    /** Whether block status has any context to answer with. */
    boolean blockStatus() {
      return contexts.count() > 0;
    }
  }

  /**
   * The metadata contexts a client selected: base:allocation, qemu:allocation-depth, and the export's
   * dirty bitmaps by index; block status answers them in that order, as qemu-nbd does.
   */
  record Contexts(boolean baseAllocation, boolean allocationDepth, boolean[] bitmaps) {
    static final Contexts NONE = new Contexts(false, false, new boolean[0]);

    int count() {
      int count = (baseAllocation ? 1 : 0) + (allocationDepth ? 1 : 0);
      for (boolean bitmap : bitmaps) {
        count += bitmap ? 1 : 0;
      }
      return count;
    }
  }

  private final Wire wire;
  private final Export export;
  private final BooleanSupplier shuttingDown;
  private boolean structuredReplies;
  private Contexts selected = Contexts.NONE;
  private Session chosen;

  Negotiation(Wire wire, Export export, BooleanSupplier shuttingDown) {
    this.wire = wire;
    this.export = export;
    this.shuttingDown = shuttingDown;
  }

  /** Runs the handshake; empty when the client aborted it. */
  Optional<Session> run() throws IOException {
    ByteBuffer greeting = ByteBuffer.allocate(18)
        .putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        .flip();
    wire.write(greeting);
    int clientFlags = wire.readInt();
    if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
      throw new ProtocolException("unknown client flags 0x" + Integer.toHexString(clientFlags));
    }
    boolean noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
    while (true) {
      long magic = wire.readLong();
      if (magic != IHAVEOPT) {
        throw new ProtocolException("bad option magic 0x" + Long.toHexString(magic));
      }
      int option = wire.readInt();
      long length = Integer.toUnsignedLong(wire.readInt());
      if (option == OPT_EXPORT_NAME) {
        return Optional.of(exportName(length, noZeroes));
      }
      if (length > MAX_OPTION_LENGTH) {
        // Options carry names and queries; a huge one is refused, and one past the payload limit dropped.
        if (length > MAX_PAYLOAD) {
          throw new ProtocolException("option " + option + " carries " + length + " bytes");
        }
        wire.skip(length);
        refuse(option, REP_ERR_TOO_BIG, "option data of " + length + " bytes is too large");
        continue;
      }
      ByteBuffer data = ByteBuffer.wrap(wire.readBytes((int) length));
      if (shuttingDown.getAsBoolean() && option != OPT_ABORT) {
        refuse(option, REP_ERR_SHUTDOWN, "server is shutting down");
        continue;
      }
      try {
        if (option(option, data)) {
          return Optional.ofNullable(chosen);
        }
      } catch (BufferUnderflowException | IllegalArgumentException e) {
        String reason = e.getMessage() == null ? "its data ends early" : e.getMessage();
        refuse(option, REP_ERR_INVALID, "malformed option " + option + ": " + reason);
      }
    }
  }

  /** Handles one option; true when it ends the handshake (GO, or ABORT which leaves no session). */
  private boolean option(int option, ByteBuffer data) throws IOException {
    switch (option) {
      case OPT_ABORT -> {
        acknowledge(option);
        return true;
      }
      case OPT_LIST -> list(data);
      case OPT_STARTTLS -> refuse(option, REP_ERR_POLICY, "TLS is not configured on this server");
      case OPT_INFO, OPT_GO -> {
        return info(option, data);
      }
      case OPT_STRUCTURED_REPLY -> {
        if (data.hasRemaining()) {
          refuse(option, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
        } else {
          structuredReplies = true;
          acknowledge(option);
        }
      }
      case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(option, data);
      default -> refuse(option, REP_ERR_UNSUP, "option " + option + " is not supported");
    }
    return false;
  }

  private Session exportName(long length, boolean noZeroes) throws IOException {
    if (length > MAX_STRING) {
      throw new ProtocolException("export name of " + length + " bytes");
    }
    String name = utf8(wire.readBytes((int) length));
    if (!export.answersTo(name)) {
      // NBD_OPT_EXPORT_NAME cannot carry an error: the spec says to end the session.
      throw new ProtocolException("unknown export '" + name + "'");
    }
    int flags = export.transmissionFlags(structuredReplies);
    ByteBuffer reply = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
    reply.putLong(export.size()).putShort((short) flags);
    wire.write(reply.clear());
    return new Session(structuredReplies, selected, flags);
  }

  private void list(ByteBuffer data) throws IOException {
    if (data.hasRemaining()) {
      refuse(OPT_LIST, REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
      return;
    }
    byte[] name = bytes(export.name());
    byte[] description = export.description() == null ? new byte[0] : bytes(export.description());
    ByteBuffer server = ByteBuffer.allocate(4 + name.length + description.length)
        .putInt(name.length).put(name).put(description).flip();
    reply(OPT_LIST, REP_SERVER, server);
    acknowledge(OPT_LIST);
  }

  /** Answers NBD_OPT_INFO or NBD_OPT_GO; true when a GO succeeded. */
  private boolean info(int option, ByteBuffer data) throws IOException {
    String name = string(data, data.getInt(), 2);
    int count = Short.toUnsignedInt(data.getShort());
    if (data.remaining() != 2 * count) {
      throw new IllegalArgumentException("information request count does not match the length");
    }
    Set<Integer> requested = new HashSet<>();
    for (int i = 0; i < count; i++) {
      requested.add(Short.toUnsignedInt(data.getShort()));
    }
    if (!export.answersTo(name)) {
      refuse(option, REP_ERR_UNKNOWN, "export '" + name + "' not found");
      return false;
    }
    int flags = export.transmissionFlags(structuredReplies);
    reply(option, REP_INFO, ByteBuffer.allocate(12)
        .putShort((short) INFO_EXPORT).putLong(export.size()).putShort((short) flags).flip());
    if (requested.contains(INFO_NAME)) {
      byte[] canonical = bytes(export.name());
      reply(option, REP_INFO, ByteBuffer.allocate(2 + canonical.length)
          .putShort((short) INFO_NAME).put(canonical).flip());
    }
    if (requested.contains(INFO_DESCRIPTION) && export.description() != null) {
      byte[] description = bytes(export.description());
      reply(option, REP_INFO, ByteBuffer.allocate(2 + description.length)
          .putShort((short) INFO_DESCRIPTION).put(description).flip());
    }
    // Sent unasked: clients that cannot honour it ignore it, and ours are the spec's defaults anyway.
    reply(option, REP_INFO, ByteBuffer.allocate(14)
        .putShort((short) INFO_BLOCK_SIZE).putInt(1).putInt(PREFERRED_BLOCK_SIZE).putInt(MAX_PAYLOAD).flip());
    acknowledge(option);
    if (option == OPT_GO) {
      chosen = new Session(structuredReplies, selected, flags);
      return true;
    }
    return false;
  }

  /**
   * NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT as qemu-nbd 7.2 answers them: queries in
   * the base and qemu namespaces ("base:allocation", "qemu:allocation-depth",
   * "qemu:dirty-bitmap:NAME"; in a list an empty query, "base:", "qemu:" or "qemu:dirty-bitmap:"
   * matches what it prefixes), replies in the order base, depth, bitmaps, ids 0 in a list.
   */
  private void metaContext(int option, ByteBuffer data) throws IOException {
    boolean set = option == OPT_SET_META_CONTEXT;
    if (set) {
      // A SET replaces the selection even when it fails.
      selected = Contexts.NONE;
    }
    if (!structuredReplies) {
      refuse(option, REP_ERR_INVALID, "negotiate NBD_OPT_STRUCTURED_REPLY first");
      return;
    }
    String name = string(data, data.getInt(), 4);
    long count = Integer.toUnsignedLong(data.getInt());
    List<String> queries = new ArrayList<>();
    for (long i = 0; i < count; i++) {
      queries.add(string(data, data.getInt(), 0));
    }
    if (data.hasRemaining()) {
      throw new IllegalArgumentException("trailing bytes after the queries");
    }
    if (!export.answersTo(name)) {
      refuse(option, REP_ERR_UNKNOWN, "export '" + name + "' not found");
      return;
    }
    List<NbdServer.ExportedBitmap> bitmaps = export.bitmaps();
    boolean list = !set;
    boolean base = false;
    boolean depth = false;
    boolean[] chosenBitmaps = new boolean[bitmaps.size()];
    if (list && queries.isEmpty()) {
      base = true;
      depth = export.allocationDepth();
      java.util.Arrays.fill(chosenBitmaps, true);
    }
    for (String query : queries) {
      if (query.startsWith("base:")) {
        String rest = query.substring(5);
        base |= rest.isEmpty() ? list : rest.equals("allocation");
      } else if (query.startsWith("qemu:")) {
        String rest = query.substring(5);
        if (rest.isEmpty()) {
          if (list) {
            depth |= export.allocationDepth();
            java.util.Arrays.fill(chosenBitmaps, true);
          }
        } else if (rest.equals("allocation-depth")) {
          depth |= export.allocationDepth();
        } else if (rest.startsWith("dirty-bitmap:")) {
          String bitmapName = rest.substring("dirty-bitmap:".length());
          for (int index = 0; index < bitmaps.size(); index++) {
            if (bitmapName.isEmpty() ? list : bitmaps.get(index).name().equals(bitmapName)) {
              chosenBitmaps[index] = true;
            }
          }
        }
      }
    }
    if (base) {
      sendContext(option, BASE_ALLOCATION, set ? BASE_ALLOCATION_ID : 0);
    }
    if (depth) {
      sendContext(option, ALLOCATION_DEPTH, set ? ALLOCATION_DEPTH_ID : 0);
    }
    for (int index = 0; index < bitmaps.size(); index++) {
      if (chosenBitmaps[index]) {
        sendContext(option, DIRTY_BITMAP_PREFIX + bitmaps.get(index).name(), set ? DIRTY_BITMAP_ID + index : 0);
      }
    }
    if (set) {
      selected = new Contexts(base, depth, chosenBitmaps);
    }
    acknowledge(option);
  }

  private void sendContext(int option, String context, int id) throws IOException {
    byte[] bytes = bytes(context);
    reply(option, REP_META_CONTEXT, ByteBuffer.allocate(4 + bytes.length).putInt(id).put(bytes).flip());
  }

  private void acknowledge(int option) throws IOException {
    reply(option, REP_ACK, ByteBuffer.allocate(0));
  }

  /** An error reply; its data is a message for the user. */
  private void refuse(int option, int error, String message) throws IOException {
    reply(option, error, ByteBuffer.wrap(bytes(message)));
  }

  private void reply(int option, int type, ByteBuffer payload) throws IOException {
    wire.write(Frames.optionReply(option, type, payload.remaining()), payload);
  }

  /** A string of {@code length} bytes that must leave at least {@code after} bytes of the option. */
  private static String string(ByteBuffer data, int length, int after) {
    if (length < 0 || length > MAX_STRING || length > data.remaining() - after) {
      throw new IllegalArgumentException("string of " + Integer.toUnsignedString(length) + " bytes");
    }
    byte[] bytes = new byte[length];
    data.get(bytes);
    return utf8(bytes);
  }

  private static String utf8(byte[] bytes) {
    return new String(bytes, StandardCharsets.UTF_8);
  }

  private static byte[] bytes(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }
}
