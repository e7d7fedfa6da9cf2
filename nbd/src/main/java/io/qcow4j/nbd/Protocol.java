package io.qcow4j.nbd;

/** The NBD wire constants (doc/proto.md of the NBD project), in one place. */
final class Protocol {
  private Protocol() {}

  static final long NBDMAGIC = 0x4e42444d41474943L;
  static final long IHAVEOPT = 0x49484156454f5054L;
  static final long REPLY_MAGIC = 0x3e889045565a9L;
  static final int REQUEST_MAGIC = 0x25609513;
  static final int SIMPLE_REPLY_MAGIC = 0x67446698;
  static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;

  // Handshake flags (server) and client flags.
  static final int FLAG_FIXED_NEWSTYLE = 1;
  static final int FLAG_NO_ZEROES = 1 << 1;
  static final int FLAG_C_FIXED_NEWSTYLE = 1;
  static final int FLAG_C_NO_ZEROES = 1 << 1;

  // Transmission flags.
  static final int FLAG_HAS_FLAGS = 1;
  static final int FLAG_READ_ONLY = 1 << 1;
  static final int FLAG_SEND_FLUSH = 1 << 2;
  static final int FLAG_SEND_FUA = 1 << 3;
  static final int FLAG_ROTATIONAL = 1 << 4;
  static final int FLAG_SEND_TRIM = 1 << 5;
  static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
  static final int FLAG_SEND_DF = 1 << 7;
  static final int FLAG_CAN_MULTI_CONN = 1 << 8;
  static final int FLAG_SEND_CACHE = 1 << 10;
  static final int FLAG_SEND_FAST_ZERO = 1 << 11;

  // Options.
  static final int OPT_EXPORT_NAME = 1;
  static final int OPT_ABORT = 2;
  static final int OPT_LIST = 3;
  static final int OPT_STARTTLS = 5;
  static final int OPT_INFO = 6;
  static final int OPT_GO = 7;
  static final int OPT_STRUCTURED_REPLY = 8;
  static final int OPT_LIST_META_CONTEXT = 9;
  static final int OPT_SET_META_CONTEXT = 10;

  // Option replies.
  static final int REP_ACK = 1;
  static final int REP_SERVER = 2;
  static final int REP_INFO = 3;
  static final int REP_META_CONTEXT = 4;
  static final int REP_ERR_UNSUP = 0x80000001;
  static final int REP_ERR_POLICY = 0x80000002;
  static final int REP_ERR_INVALID = 0x80000003;
  static final int REP_ERR_PLATFORM = 0x80000004;
  static final int REP_ERR_TLS_REQD = 0x80000005;
  static final int REP_ERR_UNKNOWN = 0x80000006;
  static final int REP_ERR_SHUTDOWN = 0x80000007;
  static final int REP_ERR_BLOCK_SIZE_REQD = 0x80000008;
  static final int REP_ERR_TOO_BIG = 0x80000009;

  // Information items of NBD_OPT_INFO and NBD_OPT_GO.
  static final int INFO_EXPORT = 0;
  static final int INFO_NAME = 1;
  static final int INFO_DESCRIPTION = 2;
  static final int INFO_BLOCK_SIZE = 3;

  // Commands.
  static final int CMD_READ = 0;
  static final int CMD_WRITE = 1;
  static final int CMD_DISC = 2;
  static final int CMD_FLUSH = 3;
  static final int CMD_TRIM = 4;
  static final int CMD_CACHE = 5;
  static final int CMD_WRITE_ZEROES = 6;
  static final int CMD_BLOCK_STATUS = 7;

  // Command flags.
  static final int CMD_FLAG_FUA = 1;
  static final int CMD_FLAG_NO_HOLE = 1 << 1;
  static final int CMD_FLAG_DF = 1 << 2;
  static final int CMD_FLAG_REQ_ONE = 1 << 3;
  static final int CMD_FLAG_FAST_ZERO = 1 << 4;

  // Structured reply chunks.
  static final int REPLY_FLAG_DONE = 1;
  static final int REPLY_TYPE_NONE = 0;
  static final int REPLY_TYPE_OFFSET_DATA = 1;
  static final int REPLY_TYPE_OFFSET_HOLE = 2;
  static final int REPLY_TYPE_BLOCK_STATUS = 5;
  static final int REPLY_TYPE_ERROR = 0x8001;
  static final int REPLY_TYPE_ERROR_OFFSET = 0x8002;

  // base:allocation status flags.
  static final int STATE_HOLE = 1;
  static final int STATE_ZERO = 1 << 1;

  // Error values.
  static final int EPERM = 1;
  static final int EIO = 5;
  static final int ENOMEM = 12;
  static final int EINVAL = 22;
  static final int ENOSPC = 28;
  static final int EOVERFLOW = 75;
  static final int ENOTSUP = 95;
  static final int ESHUTDOWN = 108;

  static final String BASE_ALLOCATION = "base:allocation";
  static final String ALLOCATION_DEPTH = "qemu:allocation-depth";
  static final String DIRTY_BITMAP_PREFIX = "qemu:dirty-bitmap:";
  /** The ids of the metadata contexts in NBD_OPT_SET_META_CONTEXT replies, as qemu-nbd numbers them. */
  static final int BASE_ALLOCATION_ID = 0;
  static final int ALLOCATION_DEPTH_ID = 1;
  /** The first dirty bitmap's id; the others follow. */
  static final int DIRTY_BITMAP_ID = 2;
  /** qemu:dirty-bitmap status flag. */
  static final int STATE_DIRTY = 1;

  /** Largest payload of a read or write (qemu's NBD_MAX_BUFFER_SIZE and the spec's DoS floor). */
  static final int MAX_PAYLOAD = 32 << 20;
  /** Largest option payload we read; options carry names and queries, which are small. */
  static final int MAX_OPTION_LENGTH = 64 << 10;
  /** Longest string (name, description, query) the spec allows. */
  static final int MAX_STRING = 4096;
  static final int PREFERRED_BLOCK_SIZE = 4096;
}
