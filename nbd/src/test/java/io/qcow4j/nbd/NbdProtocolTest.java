package io.qcow4j.nbd;

import static io.qcow4j.nbd.Protocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.qcow4j.disk.DiskFile;
import io.qcow4j.nbd.NbdTestClient.Chunk;
import io.qcow4j.nbd.NbdTestClient.OptionReply;
import io.qcow4j.nbd.NbdTestClient.Reply;
import java.io.IOException;
import java.net.Socket;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Every option and command of the server, over the wire, with a client of our own. */
@Timeout(value = 30, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class NbdProtocolTest {
  private static final int SIZE = 1 << 20;
  private static final long SEED = System.nanoTime();

  @TempDir Path dir;
  private byte[] content;
  private ZeroAwareDisk disk;
  private NbdServer server;
  private final List<NbdTestClient> clients = new ArrayList<>();

  @BeforeEach
  void setUp() throws IOException {
    System.out.println("seed " + SEED);
    content = new byte[SIZE];
    Random random = new Random(SEED);
    // Data in the first 64 KiB and at 256 KiB, zeros elsewhere: holes for sparse reads.
    for (int i = 0; i < 64 << 10; i++) {
      content[i] = (byte) random.nextInt();
    }
    for (int i = 256 << 10; i < (256 + 8) << 10; i++) {
      content[i] = (byte) (i * 7);
    }
    disk = new ZeroAwareDisk(content, false);
    server = serve(NbdServer.builder().disk(disk).exportName("disk").description("a test disk"));
  }

  @AfterEach
  void tearDown() throws IOException {
    for (NbdTestClient client : clients) {
      client.close();
    }
    server.close();
  }

  private NbdServer serve(NbdServer.Builder builder) throws IOException {
    return builder.tcp("127.0.0.1", 0).start();
  }

  private NbdTestClient connect() throws IOException {
    return connect(server);
  }

  private NbdTestClient connect(NbdServer target) throws IOException {
    NbdTestClient client = NbdTestClient.connect(target.address());
    clients.add(client);
    return client;
  }

  private NbdTestClient open(boolean structured, boolean metaContext) throws IOException {
    NbdTestClient client = NbdTestClient.open(server.address(), structured, metaContext);
    clients.add(client);
    return client;
  }

  private NbdTestClient negotiating() throws IOException {
    NbdTestClient client = connect();
    client.greet(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    return client;
  }

  /** A fresh client can still get through: the server survived whatever came before. */
  private void assertServerStillServes() throws IOException {
    try (NbdTestClient client = NbdTestClient.open(server.address(), true, false)) {
      assertThat(client.read(0, 512)).isEqualTo(Arrays.copyOf(content, 512));
    }
  }

  // ---- handshake ----

  @Test
  void greetingAdvertisesFixedNewstyleAndNoZeroes() throws IOException {
    NbdTestClient client = connect();
    assertThat(client.readGreeting()).isEqualTo(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
  }

  @Test
  void unknownClientFlagsEndTheConnection() throws IOException {
    NbdTestClient client = connect();
    client.greet(FLAG_C_FIXED_NEWSTYLE | 0x80);
    assertThat(client.serverClosed()).isTrue();
    assertServerStillServes();
  }

  @Test
  void exportNameSendsSizeFlagsAndPaddingUnlessNoZeroes() throws IOException {
    NbdTestClient padded = connect();
    padded.greet(FLAG_C_FIXED_NEWSTYLE);
    padded.sendOption(OPT_EXPORT_NAME, "disk".getBytes(StandardCharsets.UTF_8));
    assertThat(padded.input().readLong()).isEqualTo(SIZE);
    assertThat(padded.input().readUnsignedShort()).isEqualTo(server.exportFlags(false));
    byte[] zeros = new byte[124];
    padded.input().readFully(zeros);
    assertThat(zeros).containsOnly(0);
    assertThat(padded.read(0, 16)).isEqualTo(Arrays.copyOf(content, 16));

    NbdTestClient bare = negotiating();
    bare.sendOption(OPT_EXPORT_NAME, new byte[0]);
    assertThat(bare.input().readLong()).isEqualTo(SIZE);
    bare.input().readUnsignedShort();
    // No padding: the next bytes are the reply to our first request.
    assertThat(bare.read(8, 8)).isEqualTo(Arrays.copyOfRange(content, 8, 16));
  }

  @Test
  void exportNameOfAnUnknownExportEndsTheSession() throws IOException {
    NbdTestClient client = negotiating();
    client.sendOption(OPT_EXPORT_NAME, "nope".getBytes(StandardCharsets.UTF_8));
    assertThat(client.serverClosed()).isTrue();
    assertServerStillServes();
  }

  @Test
  void abortIsAcknowledgedThenTheServerCloses() throws IOException {
    NbdTestClient client = negotiating();
    assertThat(client.option(OPT_ABORT, new byte[0]).type()).isEqualTo(REP_ACK);
    assertThat(client.serverClosed()).isTrue();
  }

  @Test
  void listNamesTheExportWithItsDescription() throws IOException {
    NbdTestClient client = negotiating();
    List<OptionReply> replies = client.options(OPT_LIST, new byte[0]);
    assertThat(replies).hasSize(2);
    ByteBuffer entry = replies.get(0).buffer();
    assertThat(replies.get(0).type()).isEqualTo(REP_SERVER);
    byte[] name = new byte[entry.getInt()];
    entry.get(name);
    assertThat(new String(name, StandardCharsets.UTF_8)).isEqualTo("disk");
    assertThat(StandardCharsets.UTF_8.decode(entry).toString()).isEqualTo("a test disk");
    assertThat(replies.get(1).type()).isEqualTo(REP_ACK);

    assertThat(client.option(OPT_LIST, new byte[] {1}).type()).isEqualTo(REP_ERR_INVALID);
  }

  @Test
  void infoDescribesTheExportWithoutLeavingNegotiation() throws IOException {
    NbdTestClient client = negotiating();
    List<OptionReply> replies = client.options(OPT_INFO, NbdTestClient.infoRequest("disk", INFO_NAME, INFO_DESCRIPTION));
    assertThat(replies.getLast().type()).isEqualTo(REP_ACK);
    boolean sawExport = false;
    boolean sawName = false;
    boolean sawDescription = false;
    boolean sawBlockSize = false;
    for (OptionReply reply : replies.subList(0, replies.size() - 1)) {
      assertThat(reply.type()).isEqualTo(REP_INFO);
      ByteBuffer data = reply.buffer();
      switch (data.getShort()) {
        case INFO_EXPORT -> {
          sawExport = true;
          assertThat(data.getLong()).isEqualTo(SIZE);
          assertThat(Short.toUnsignedInt(data.getShort())).isEqualTo(server.exportFlags(false));
        }
        case INFO_NAME -> {
          sawName = true;
          assertThat(StandardCharsets.UTF_8.decode(data).toString()).isEqualTo("disk");
        }
        case INFO_DESCRIPTION -> {
          sawDescription = true;
          assertThat(StandardCharsets.UTF_8.decode(data).toString()).isEqualTo("a test disk");
        }
        case INFO_BLOCK_SIZE -> {
          sawBlockSize = true;
          assertThat(data.getInt()).isEqualTo(1);
          assertThat(data.getInt()).isEqualTo(4096);
          assertThat(data.getInt()).isEqualTo(32 << 20);
        }
        default -> throw new AssertionError("unexpected info item");
      }
    }
    assertThat(sawExport && sawName && sawDescription && sawBlockSize).isTrue();

    assertThat(client.option(OPT_INFO, NbdTestClient.infoRequest("other")).type()).isEqualTo(REP_ERR_UNKNOWN);
    assertThat(client.option(OPT_INFO, new byte[] {0, 0, 0, 9, 1}).type()).isEqualTo(REP_ERR_INVALID);
    byte[] oddCount = NbdTestClient.infoRequest("disk", INFO_NAME);
    oddCount[oddCount.length - 3] = 2;
    assertThat(client.option(OPT_INFO, oddCount).type()).isEqualTo(REP_ERR_INVALID);
    assertThat(client.option(OPT_GO, NbdTestClient.infoRequest("nope")).type()).isEqualTo(REP_ERR_UNKNOWN);
    // Still negotiating: GO works after all of that.
    client.go("disk");
    assertThat(client.info.size()).isEqualTo(SIZE);
    assertThat(client.read(0, 4)).isEqualTo(Arrays.copyOf(content, 4));
  }

  @Test
  void structuredReplyTakesNoData() throws IOException {
    NbdTestClient client = negotiating();
    assertThat(client.option(OPT_STRUCTURED_REPLY, new byte[] {1}).type()).isEqualTo(REP_ERR_INVALID);
    assertThat(client.option(OPT_STRUCTURED_REPLY, new byte[0]).type()).isEqualTo(REP_ACK);
  }

  @Test
  void metaContextsNeedStructuredRepliesAndOfferBaseAllocation() throws IOException {
    NbdTestClient client = negotiating();
    assertThat(client.option(OPT_SET_META_CONTEXT, NbdTestClient.metaQuery("disk", BASE_ALLOCATION)).type())
        .isEqualTo(REP_ERR_INVALID);
    assertThat(client.option(OPT_LIST_META_CONTEXT, NbdTestClient.metaQuery("disk")).type())
        .isEqualTo(REP_ERR_INVALID);
    client.option(OPT_STRUCTURED_REPLY, new byte[0]);

    for (String[] queries : List.of(new String[0], new String[] {"base:"}, new String[] {BASE_ALLOCATION})) {
      List<OptionReply> listed = client.options(OPT_LIST_META_CONTEXT, NbdTestClient.metaQuery("disk", queries));
      assertThat(listed).hasSize(2);
      assertThat(listed.get(0).type()).isEqualTo(REP_META_CONTEXT);
      assertThat(contextName(listed.get(0))).isEqualTo(BASE_ALLOCATION);
      assertThat(listed.get(1).type()).isEqualTo(REP_ACK);
    }
    assertThat(client.options(OPT_LIST_META_CONTEXT, NbdTestClient.metaQuery("disk", "qemu:dirty-bitmap:x")))
        .extracting(OptionReply::type).containsExactly(REP_ACK);
    assertThat(client.option(OPT_LIST_META_CONTEXT, NbdTestClient.metaQuery("nope")).type())
        .isEqualTo(REP_ERR_UNKNOWN);
    assertThat(client.option(OPT_SET_META_CONTEXT, new byte[] {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 99}).type())
        .isEqualTo(REP_ERR_INVALID);
    // "base:" selects nothing in SET.
    assertThat(client.options(OPT_SET_META_CONTEXT, NbdTestClient.metaQuery("disk", "base:")))
        .extracting(OptionReply::type).containsExactly(REP_ACK);

    List<OptionReply> set = client.options(OPT_SET_META_CONTEXT,
        NbdTestClient.metaQuery("disk", "x-other:thing", BASE_ALLOCATION));
    assertThat(set).hasSize(2);
    assertThat(set.get(0).buffer().getInt()).isEqualTo(BASE_ALLOCATION_ID);
    assertThat(contextName(set.get(0))).isEqualTo(BASE_ALLOCATION);
    client.structured = true;
    client.go("disk");
    Reply status = client.request(0, CMD_BLOCK_STATUS, 1, 0, 4096, null);
    assertThat(status.errorCode()).isZero();
  }

  private static String contextName(OptionReply reply) {
    ByteBuffer data = reply.buffer();
    data.getInt();
    return StandardCharsets.UTF_8.decode(data).toString();
  }

  @Test
  void startTlsIsRefusedByPolicyAndUnknownOptionsAsUnsupported() throws IOException {
    NbdTestClient client = negotiating();
    assertThat(client.option(OPT_STARTTLS, new byte[0]).type()).isEqualTo(REP_ERR_POLICY);
    OptionReply unknown = client.option(99, new byte[] {1, 2, 3});
    assertThat(unknown.type()).isEqualTo(REP_ERR_UNSUP);
    assertThat(unknown.text()).contains("99");
    assertThat(client.option(4, new byte[0]).type()).isEqualTo(REP_ERR_UNSUP);
    client.go("disk");
    assertThat(client.read(0, 4)).isEqualTo(Arrays.copyOf(content, 4));
  }

  @Test
  void oversizedOptionsAreRefusedOrDropped() throws IOException {
    NbdTestClient client = negotiating();
    assertThat(client.option(OPT_LIST, new byte[100 << 10]).type()).isEqualTo(REP_ERR_TOO_BIG);
    client.sendOptionHeader(OPT_INFO, 0xffff_fff0L);
    client.writeRaw(new byte[16]);
    assertThat(client.serverClosed()).isTrue();
    assertServerStillServes();
  }

  @Test
  void badOptionMagicEndsTheConnection() throws IOException {
    NbdTestClient client = negotiating();
    client.writeRaw(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 3, 0, 0, 0, 0});
    assertThat(client.serverClosed()).isTrue();
    assertServerStillServes();
  }

  @Test
  void transmissionFlagsTellTheTruth() throws IOException {
    NbdTestClient simple = open(false, false);
    int flags = simple.info.flags();
    int writable = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES
        | FLAG_SEND_FAST_ZERO | FLAG_SEND_CACHE | FLAG_CAN_MULTI_CONN;
    assertThat(flags).isEqualTo(writable);
    assertThat(open(true, false).info.flags()).isEqualTo(writable | FLAG_SEND_DF);
    // One client at a time: a second connection would wait forever, so no multi-conn.
    try (NbdServer single = serve(NbdServer.builder().disk(disk).maxClients(1));
        NbdTestClient client = NbdTestClient.open(single.address(), false, false)) {
      assertThat(client.info.flags()).isEqualTo(writable & ~FLAG_CAN_MULTI_CONN);
    }

    ZeroAwareDisk readOnlyDisk = new ZeroAwareDisk(content, true);
    try (NbdServer readOnly = serve(NbdServer.builder().disk(readOnlyDisk));
        NbdTestClient client = NbdTestClient.open(readOnly.address(), false, false)) {
      assertThat(client.info.flags())
          .isEqualTo(FLAG_HAS_FLAGS | FLAG_READ_ONLY | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE
              | FLAG_CAN_MULTI_CONN);
    }
  }

  // ---- transmission ----

  @Test
  void simpleRepliesReadAndWrite() throws IOException {
    NbdTestClient client = open(false, false);
    byte[] data = new byte[3000];
    new Random(SEED).nextBytes(data);
    assertThat(client.write(1000, data, 0)).isZero();
    assertThat(client.read(1000, data.length)).isEqualTo(data);
    assertThat(Arrays.copyOfRange(disk.content(), 1000, 4000)).isEqualTo(data);

    int forcesBefore = disk.forces.get();
    assertThat(client.write(0, new byte[] {9}, CMD_FLAG_FUA)).isZero();
    assertThat(disk.forces.get()).isGreaterThan(forcesBefore);

    Reply pastEnd = client.request(0, CMD_READ, 77, SIZE - 10, 20, null);
    assertThat(pastEnd.structured()).isFalse();
    assertThat(pastEnd.errorCode()).isEqualTo(EINVAL);
    assertThat(pastEnd.data()).isEmpty();
    Reply hugeOffset = client.request(0, CMD_READ, 78, -512, 512, null);
    assertThat(hugeOffset.errorCode()).isEqualTo(EINVAL);
    Reply tooLong = client.request(0, CMD_READ, 79, 0, (32 << 20) + 1, null);
    assertThat(tooLong.errorCode()).isEqualTo(EINVAL);
    Reply empty = client.request(0, CMD_READ, 80, 0, 0, null);
    assertThat(empty.errorCode()).isZero();
    assertThat(client.read(0, 1)).containsExactly(9);
  }

  @Test
  void structuredReadsSendHolesAsHoles() throws IOException {
    NbdTestClient client = open(true, false);
    int length = 512 << 10;
    Reply reply = client.request(0, CMD_READ, 5, 0, length, null);
    assertThat(reply.errorCode()).isZero();
    assertThat(reply.readData(0, length)).isEqualTo(Arrays.copyOf(content, length));
    assertThat(reply.chunks()).extracting(Chunk::type)
        .containsExactly(REPLY_TYPE_OFFSET_DATA, REPLY_TYPE_OFFSET_HOLE, REPLY_TYPE_OFFSET_DATA,
            REPLY_TYPE_OFFSET_HOLE);
    assertThat(reply.chunks().getLast().done()).isTrue();
    assertThat(reply.chunks().subList(0, 3)).noneMatch(Chunk::done);
    ByteBuffer hole = reply.chunks().get(1).buffer();
    assertThat(hole.getLong()).isEqualTo(64 << 10);
    assertThat(hole.getInt()).isEqualTo((256 - 64) << 10);

    Reply unaligned = client.request(0, CMD_READ, 6, (64 << 10) - 5, 10, null);
    assertThat(unaligned.readData((64 << 10) - 5, 10)).isEqualTo(Arrays.copyOfRange(content, (64 << 10) - 5, (64 << 10) + 5));

    Reply whole = client.request(CMD_FLAG_DF, CMD_READ, 7, 0, length, null);
    assertThat(whole.chunks()).hasSize(1);
    assertThat(whole.chunks().getFirst().type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
    assertThat(whole.readData(0, length)).isEqualTo(Arrays.copyOf(content, length));

    Reply empty = client.request(0, CMD_READ, 8, 0, 0, null);
    assertThat(empty.chunks()).extracting(Chunk::type).containsExactly(REPLY_TYPE_NONE);
    assertThat(empty.chunks().getFirst().done()).isTrue();
  }

  @Test
  void structuredErrorsComeAsErrorChunksWithAMessage() throws IOException {
    NbdTestClient client = open(true, false);
    Reply reply = client.request(0, CMD_READ, 9, SIZE, 1, null);
    assertThat(reply.structured()).isTrue();
    assertThat(reply.chunks()).hasSize(1);
    Chunk chunk = reply.chunks().getFirst();
    assertThat(chunk.type()).isEqualTo(REPLY_TYPE_ERROR);
    assertThat(chunk.done()).isTrue();
    ByteBuffer payload = chunk.buffer();
    assertThat(payload.getInt()).isEqualTo(EINVAL);
    int messageLength = payload.getShort();
    assertThat(messageLength).isEqualTo(payload.remaining()).isPositive();
    assertThat(StandardCharsets.UTF_8.decode(payload).toString()).contains("outside the export");
    // DF is valid only with structured replies; BLOCK_STATUS only with a context.
    assertThat(client.request(0, CMD_BLOCK_STATUS, 10, 0, 512, null).errorCode()).isEqualTo(EINVAL);
  }

  @Test
  void writesOutsideTheDiskOrWithBadFlagsAreRefused() throws IOException {
    NbdTestClient client = open(false, false);
    assertThat(client.write(SIZE - 1, new byte[2], 0)).isEqualTo(ENOSPC);
    assertThat(client.request(0, CMD_WRITE_ZEROES, 1, SIZE, 1, null).errorCode()).isEqualTo(ENOSPC);
    assertThat(client.write(0, new byte[2], 0x100)).isEqualTo(EINVAL);
    assertThat(client.request(CMD_FLAG_DF, CMD_READ, 2, 0, 1, null).errorCode()).isEqualTo(EINVAL);
    assertThat(client.request(CMD_FLAG_REQ_ONE, CMD_TRIM, 3, 0, 1, null).errorCode()).isEqualTo(EINVAL);
    assertThat(client.request(0, 42, 4, 0, 0, null).errorCode()).isEqualTo(EINVAL);
    assertThat(client.request(0, CMD_TRIM, 5, SIZE - 1, 2, null).errorCode()).isEqualTo(EINVAL);
    assertThat(disk.content()).isEqualTo(content);
  }

  @Test
  void readOnlyExportsRefuseEveryWrite() throws IOException {
    try (NbdServer readOnly = serve(NbdServer.builder().disk(disk).readOnly(true));
        NbdTestClient client = NbdTestClient.open(readOnly.address(), true, false)) {
      assertThat(client.write(0, new byte[] {1, 2}, 0)).isEqualTo(EPERM);
      assertThat(client.request(0, CMD_TRIM, 1, 0, 4096, null).errorCode()).isEqualTo(EPERM);
      assertThat(client.request(0, CMD_WRITE_ZEROES, 2, 0, 4096, null).errorCode()).isEqualTo(EPERM);
      assertThat(client.request(0, CMD_FLUSH, 3, 0, 0, null).errorCode()).isZero();
      assertThat(client.read(0, 2)).isEqualTo(Arrays.copyOf(content, 2));
    }
    assertThat(disk.content()).isEqualTo(content);
  }

  @Test
  void oversizedWritesAreAnsweredThenDisconnected() throws IOException {
    NbdTestClient client = open(false, false);
    client.send(0, CMD_WRITE, 1, 0, (32 << 20) + 512, new byte[64]);
    Reply reply = client.readAnyReply();
    assertThat(reply.errorCode()).isEqualTo(EINVAL);
    assertThat(client.serverClosed()).isTrue();
    assertThat(disk.content()).isEqualTo(content);
    assertServerStillServes();
  }

  @Test
  void flushTrimAndZeroes() throws IOException {
    NbdTestClient client = open(true, false);
    int forces = disk.forces.get();
    assertThat(client.request(0, CMD_FLUSH, 1, 0, 0, null).errorCode()).isZero();
    assertThat(disk.forces.get()).isEqualTo(forces + 1);

    assertThat(client.request(0, CMD_TRIM, 2, 0, 8192, null).errorCode()).isZero();
    assertThat(client.read(0, 8192)).containsOnly(0);
    assertThat(client.request(CMD_FLAG_FUA, CMD_TRIM, 3, 8192, 0, null).errorCode()).isZero();

    assertThat(client.request(0, CMD_WRITE_ZEROES, 4, 8192, 100, null).errorCode()).isZero();
    assertThat(client.request(CMD_FLAG_NO_HOLE | CMD_FLAG_FUA, CMD_WRITE_ZEROES, 5, 10000, 5000, null).errorCode())
        .isZero();
    assertThat(client.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 6, 20000, 5000, null).errorCode()).isZero();
    assertThat(client.request(CMD_FLAG_FAST_ZERO | CMD_FLAG_NO_HOLE, CMD_WRITE_ZEROES, 7, 30000, 5000, null)
        .errorCode()).isEqualTo(ENOTSUP);
    byte[] after = disk.content();
    for (int[] zeroed : new int[][] {{0, 8292}, {10000, 15000}, {20000, 25000}}) {
      assertThat(Arrays.copyOfRange(after, zeroed[0], zeroed[1])).containsOnly(0);
    }
    assertThat(Arrays.copyOfRange(after, 8292, 10000)).isEqualTo(Arrays.copyOfRange(content, 8292, 10000));
    assertThat(Arrays.copyOfRange(after, 30000, 35000)).isEqualTo(Arrays.copyOfRange(content, 30000, 35000));
    assertThat(Arrays.copyOfRange(after, 64 << 10, SIZE)).isEqualTo(Arrays.copyOfRange(content, 64 << 10, SIZE));
  }

  @Test
  void fastZeroIsRefusedWhereZeroingCostsAWrite() throws IOException {
    // A format without a cheap zero (like qcow2 v2) must answer FAST_ZERO with ENOTSUP, untouched.
    ZeroAwareDisk slowZeroes = new ZeroAwareDisk(content, false) {
      @Override
      public boolean hasFastZeroes() {
        return false;
      }
    };
    try (NbdServer slow = serve(NbdServer.builder().disk(slowZeroes));
        NbdTestClient client = NbdTestClient.open(slow.address(), true, false)) {
      assertThat(client.info.flags() & FLAG_SEND_FAST_ZERO).isNotZero();
      assertThat(client.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 1, 0, 4096, null).errorCode())
          .isEqualTo(ENOTSUP);
      assertThat(slowZeroes.content()).isEqualTo(content);
      assertThat(client.request(0, CMD_WRITE_ZEROES, 2, 0, 4096, null).errorCode()).isZero();
      assertThat(client.read(0, 4096)).containsOnly(0);
    }
  }

  @Test
  void cacheWarmsAndChecksBounds() throws IOException {
    NbdTestClient client = open(false, false);
    assertThat(client.request(0, CMD_CACHE, 1, 0, SIZE, null).errorCode()).isZero();
    assertThat(client.request(CMD_FLAG_FUA, CMD_CACHE, 2, 0, 0, null).errorCode()).isZero();
    assertThat(client.request(0, CMD_CACHE, 3, SIZE, 1, null).errorCode()).isEqualTo(EINVAL);
  }

  @Test
  void blockStatusReportsHolesAndData() throws IOException {
    NbdTestClient client = open(true, true);
    Reply reply = client.request(0, CMD_BLOCK_STATUS, 1, 0, SIZE, null);
    assertThat(reply.chunks()).hasSize(1);
    Chunk chunk = reply.chunks().getFirst();
    assertThat(chunk.type()).isEqualTo(REPLY_TYPE_BLOCK_STATUS);
    assertThat(chunk.done()).isTrue();
    ByteBuffer payload = chunk.buffer();
    assertThat(payload.getInt()).isEqualTo(BASE_ALLOCATION_ID);
    List<int[]> descriptors = new ArrayList<>();
    while (payload.hasRemaining()) {
      descriptors.add(new int[] {payload.getInt(), payload.getInt()});
    }
    assertThat(descriptors).containsExactly(
        new int[] {64 << 10, 0},
        new int[] {192 << 10, STATE_HOLE | STATE_ZERO},
        new int[] {8 << 10, 0},
        new int[] {SIZE - (264 << 10), STATE_HOLE | STATE_ZERO});

    Reply one = client.request(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 2, 1000, 128 << 10, null);
    ByteBuffer single = one.chunks().getFirst().buffer();
    single.getInt();
    assertThat(single.getInt()).isEqualTo((64 << 10) - 1000);
    assertThat(single.getInt()).isZero();
    assertThat(single.hasRemaining()).isFalse();

    Reply short1 = client.request(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 3, 70 << 10, 1000, null);
    ByteBuffer clamped = short1.chunks().getFirst().buffer();
    clamped.getInt();
    assertThat(clamped.getInt()).isEqualTo(1000);
    assertThat(clamped.getInt()).isEqualTo(STATE_HOLE | STATE_ZERO);

    assertThat(client.request(0, CMD_BLOCK_STATUS, 4, SIZE - 512, 1024, null).errorCode()).isEqualTo(EINVAL);
    assertThat(client.request(0, CMD_BLOCK_STATUS, 5, 0, 0, null).errorCode()).isEqualTo(EINVAL);
  }

  @Test
  void pipelinedRequestsAreAllAnsweredByCookie() throws IOException {
    NbdTestClient client = open(true, false);
    int count = 64;
    byte[][] blocks = new byte[count][];
    Random random = new Random(SEED);
    for (int i = 0; i < count; i++) {
      blocks[i] = new byte[4096];
      random.nextBytes(blocks[i]);
      client.send(0, CMD_WRITE, 1000 + i, (long) i * 4096, 4096, blocks[i]);
    }
    Set<Long> answered = new HashSet<>();
    for (int i = 0; i < count; i++) {
      Reply reply = client.readAnyReply();
      assertThat(reply.errorCode()).isZero();
      assertThat(answered.add(reply.cookie())).isTrue();
    }
    for (int i = 0; i < count; i++) {
      client.send(0, CMD_READ, 2000 + i, (long) i * 4096, 4096, null);
    }
    for (int i = 0; i < count; i++) {
      Reply reply = client.readAnyReply();
      int index = (int) (reply.cookie() - 2000);
      assertThat(reply.readData((long) index * 4096, 4096)).isEqualTo(blocks[index]);
    }
  }

  /**
   * Like qemu-nbd (MAX_NBD_REQUESTS), a connection serves at most 16 requests at once and reads
   * the next one off the socket only when one of them ends; the others wait, and all are answered.
   */
  @Test
  void aConnectionServesAtMostSixteenRequestsAtOnce() throws Exception {
    java.util.concurrent.atomic.AtomicInteger running = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger most = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    DiskFile slow = new ForwardingDisk(new ZeroAwareDisk(content, false)) {
      @Override
      public int read(ByteBuffer dst, long position) throws IOException {
        most.accumulateAndGet(running.incrementAndGet(), Math::max);
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        running.decrementAndGet();
        return super.read(dst, position);
      }
    };
    NbdServer limited = serve(NbdServer.builder().disk(slow));
    try (NbdTestClient client = NbdTestClient.open(limited.address(), false, false)) {
      int count = 40;
      for (int i = 0; i < count; i++) {
        client.send(0, CMD_READ, 3000 + i, (long) i * 512, 512, null);
      }
      while (running.get() < Transmission.MAX_REQUESTS) {
        Thread.sleep(10);
      }
      // room for a server without the limit to start more than 16
      Thread.sleep(200);
      assertThat(most.get()).isEqualTo(Transmission.MAX_REQUESTS);
      release.countDown();
      for (int i = 0; i < count; i++) {
        Reply reply = client.readAnyReply();
        int index = (int) (reply.cookie() - 3000);
        assertThat(reply.readData((long) index * 512, 512))
            .isEqualTo(Arrays.copyOfRange(content, index * 512, index * 512 + 512));
      }
    } finally {
      release.countDown();
      limited.close();
    }
  }

  @Test
  void disconnectFinishesRequestsInFlightFirst() throws IOException {
    NbdTestClient client = open(false, false);
    byte[] data = new byte[1 << 20];
    Arrays.fill(data, (byte) 0x5a);
    client.send(0, CMD_WRITE, 1, 0, data.length, data);
    client.send(0, CMD_DISC, 2, 0, 0, null);
    Reply reply = client.readAnyReply();
    assertThat(reply.errorCode()).isZero();
    assertThat(client.serverClosed()).isTrue();
    assertThat(disk.content()).isEqualTo(data);
  }

  @Test
  void aClientVanishingMidRequestLeavesTheDiskAlone() throws IOException {
    NbdTestClient client = open(false, false);
    client.send(0, CMD_WRITE, 1, 0, 8192, null);
    client.writeRaw(new byte[1000]);
    client.close();
    assertServerStillServes();
    assertThat(disk.content()).isEqualTo(content);
  }

  @Test
  void garbageAndTruncatedHandshakesDoNotStopTheServer() throws IOException {
    Random random = new Random(SEED);
    InetSocketAddress address = (InetSocketAddress) server.address();
    for (int i = 0; i < 10; i++) {
      try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
        socket.setSoTimeout(5000);
        // At least the four bytes of client flags: random flags are refused at once (a shorter
        // message would leave the server waiting, rightly, for the handshake timeout).
        byte[] garbage = new byte[4 + random.nextInt(200)];
        random.nextBytes(garbage);
        socket.getOutputStream().write(garbage);
        if (i % 2 == 0) {
          // Read whatever the server says until it hangs up.
          socket.getInputStream().readAllBytes();
        }
      }
    }
    NbdTestClient truncated = negotiating();
    truncated.sendOptionHeader(OPT_GO, 100);
    truncated.writeRaw(new byte[10]);
    truncated.close();
    NbdTestClient badRequest = open(false, false);
    badRequest.writeRaw(new byte[28]);
    assertThat(badRequest.serverClosed()).isTrue();
    assertServerStillServes();
  }

  @Test
  void handshakeTimesOut() throws IOException, InterruptedException {
    try (NbdServer quick = serve(NbdServer.builder().disk(disk).handshakeTimeout(Duration.ofMillis(200)))) {
      NbdTestClient idle = connect(quick);
      idle.readGreeting();
      long start = System.nanoTime();
      assertThat(idle.serverClosed()).isTrue();
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
      // A client in transmission is not timed out.
      NbdTestClient active = NbdTestClient.open(quick.address(), false, false);
      clients.add(active);
      Thread.sleep(400);
      assertThat(active.read(0, 4)).isEqualTo(Arrays.copyOf(content, 4));
    }
  }

  @Test
  void maxClientsMakesTheNextOneWait() throws Exception {
    try (NbdServer single = serve(NbdServer.builder().disk(disk).maxClients(1))) {
      NbdTestClient first = NbdTestClient.open(single.address(), false, false);
      NbdTestClient second = connect(single);
      Thread reader = Thread.ofVirtual().start(() -> {
        try {
          second.readGreeting();
        } catch (IOException e) {
          throw new RuntimeException(e);
        }
      });
      reader.join(Duration.ofMillis(500));
      assertThat(reader.isAlive()).as("second client greeted while the first is connected").isTrue();
      first.close();
      reader.join(Duration.ofSeconds(5));
      assertThat(reader.isAlive()).isFalse();
    }
  }

  @Test
  void withoutPersistentTheServerStopsWhenTheLastClientLeaves() throws Exception {
    NbdServer once = serve(NbdServer.builder().disk(disk).persistent(false).maxClients(2));
    NbdTestClient first = NbdTestClient.open(once.address(), false, false);
    NbdTestClient second = NbdTestClient.open(once.address(), false, false);
    first.close();
    assertThat(once.awaitTermination(Duration.ofMillis(300))).isFalse();
    assertThat(second.read(0, 4)).isEqualTo(Arrays.copyOf(content, 4));
    second.close();
    assertThat(once.awaitTermination(Duration.ofSeconds(5))).isTrue();
    assertThat(once.isRunning()).isFalse();
    assertThat(disk.closed).isFalse();
    once.close();
  }

  @Test
  void closeDisconnectsClientsFlushesAndMayCloseTheDisk() throws Exception {
    ZeroAwareDisk own = new ZeroAwareDisk(content, false);
    NbdServer closing = serve(NbdServer.builder().disk(own).closeDiskOnStop(true));
    NbdTestClient client = NbdTestClient.open(closing.address(), false, false);
    clients.add(client);
    assertThat(client.write(0, new byte[] {1}, 0)).isZero();
    int forces = own.forces.get();
    closing.close();
    assertThat(client.serverClosed()).isTrue();
    assertThat(own.forces.get()).isGreaterThan(forces);
    assertThat(own.closed).isTrue();
    assertThat(closing.awaitTermination(Duration.ZERO)).isTrue();
    closing.close();
  }

  /**
   * A close that finds another one running waits for it without holding the lock the running one
   * takes to finish: serve's shutdown hook (SIGTERM) calling close while the close started by the
   * last client's leaving still flushed never returned, and the process never exited.
   */
  @Test
  @Timeout(30)
  void aSecondCloseWaitsForTheRunningOne() throws Exception {
    java.util.concurrent.CountDownLatch forcing = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    DiskFile slow = new ForwardingDisk(new ZeroAwareDisk(content, false)) {
      @Override
      public void force(boolean metadata) throws IOException {
        forcing.countDown();
        try {
          release.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        super.force(metadata);
      }
    };
    NbdServer closing = serve(NbdServer.builder().disk(slow));
    Thread first = Thread.ofVirtual().start(() -> closeQuietly(closing));
    assertThat(forcing.await(10, TimeUnit.SECONDS)).isTrue();
    Thread second = Thread.ofVirtual().start(() -> closeQuietly(closing));
    // the second close has found the first running (or is about to), whose flush now ends
    second.join(Duration.ofMillis(100));
    release.countDown();
    first.join();
    second.join();
    assertThat(closing.awaitTermination(Duration.ZERO)).isTrue();
  }

  private static void closeQuietly(NbdServer target) {
    try {
      target.close();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void servesOverAUnixSocket() throws IOException {
    Path socket = dir.resolve("nbd.sock");
    try (NbdServer unix = NbdServer.builder().disk(disk).unixSocket(socket).start()) {
      assertThat(unix.port()).isEqualTo(-1);
      assertThat(unix.uri()).isEqualTo("nbd+unix:///?socket=" + socket);
      try (NbdTestClient client = NbdTestClient.open(unix.address(), true, true)) {
        assertThat(client.read(0, 100)).isEqualTo(Arrays.copyOf(content, 100));
        assertThat(client.write(0, new byte[] {7}, CMD_FLAG_FUA)).isZero();
      }
    }
    assertThat(Files.exists(socket)).isFalse();
    assertThat(disk.content()[0]).isEqualTo((byte) 7);
  }
}
