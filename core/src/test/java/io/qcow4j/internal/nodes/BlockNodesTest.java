package io.qcow4j.internal.nodes;

import io.qcow4j.internal.storagenodes.BlkdebugStorage;
import io.qcow4j.internal.storagenodes.NullStorage;
import io.qcow4j.internal.storage.WindowStorage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.DiskImages;
import io.qcow4j.disk.DiskFile;
import io.qcow4j.disk.OpenOptions;
import io.qcow4j.spec.BlkdebugRule;
import io.qcow4j.spec.BlkdebugRules;
import io.qcow4j.spec.BlockNode;
import io.qcow4j.spec.ImageSpec;
import io.qcow4j.spec.ImageSpecException;
import io.qcow4j.spec.Secrets;
import io.qcow4j.storage.MemoryStorage;
import java.nio.ByteBuffer;
import java.nio.file.FileSystemException;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The node model of image specs: parsing, the plugin seam, and the storage decorators. */
class BlockNodesTest {
  private static final OpenOptions READ_WRITE = OpenOptions.readOnlyDefaults().withReadOnly(false);

  @Test
  void aPluginProtocolIsFoundThroughServiceLoader() throws Exception {
    ImageSpec spec = ImageSpec.parseWithDriver("json:{'driver':'raw','file':{'driver':'test-mem','size':'8192'}}", null);
    assertThat(spec.file()).isInstanceOf(BlockNode.Plugin.class);
    try (DiskFile disk = DiskImages.open(spec, READ_WRITE, Secrets.none())) {
      assertThat(disk.size()).isEqualTo(8192);
      disk.writeFully(ByteBuffer.wrap(new byte[] {1, 2, 3}), 100);
      ByteBuffer back = ByteBuffer.allocate(3);
      disk.readFully(back, 100);
      assertThat(back.array()).containsExactly(1, 2, 3);
    }
    ImageSpec byPrefix = ImageSpec.parseWithDriver("test-mem:anything", "raw");
    assertThat(byPrefix.file().driver()).isEqualTo("test-mem");
  }

  @Test
  void aPluginLeavesUnknownOptionsToBeRefused() throws Exception {
    ImageSpec spec = ImageSpec.parseWithDriver("json:{'driver':'raw','file':{'driver':'test-mem','bogus':1}}", null);
    assertThatThrownBy(() -> DiskImages.open(spec, READ_WRITE, Secrets.none()))
        .hasMessage("Block protocol 'test-mem' doesn't support the option 'bogus'");
  }

  @Test
  void specsNameTheNodesAsQemuReadsThem() throws Exception {
    ImageSpec blkdebug = ImageSpec.parseWithDriver("blkdebug:conf:image.qcow2", null);
    assertThat(blkdebug.file()).isInstanceOfSatisfying(BlockNode.Blkdebug.class, node -> {
      assertThat(node.config()).isEqualTo("conf");
      assertThat(node.image()).isEqualTo(new BlockNode.File("file", "image.qcow2", null, false));
    });
    assertThat(ImageSpec.parseWithDriver("json:{'driver':'null-co','size':65536}", null).node())
        .isEqualTo(new BlockNode.Null("null-co", 65536, false, 0));
    assertThatThrownBy(() -> ImageSpec.parseWithDriver("blkdebug:noimage", null))
        .hasMessage("blkdebug requires both config file and image path");
    assertThatThrownBy(() -> ImageSpec.parseWithDriver("json:{'driver':'raw','file':{'driver':'blkdebug','align':3,"
        + "'image':{'driver':'file','filename':'x'}}}", null))
        .hasMessage("Cannot meet constraints with align 3");
    assertThatThrownBy(() -> ImageSpec.parseWithDriver("json:{'driver':'raw','file':{'driver':'nosuch'}}", null))
        .isInstanceOf(ImageSpecException.class).hasMessage("Unknown driver 'nosuch'");
    assertThatThrownBy(() -> ImageSpec.parseWithDriver("json:{'driver':'null-co','filename':'x'}", null))
        .hasMessage("The only allowed filename for this driver is 'null-co://'");
  }

  @Test
  void blkdebugConfigFilesAreReadAsQemuReadsThem() throws Exception {
    List<BlkdebugRule> rules = BlkdebugRules.parseConfig("""
        # a comment
        [set-state]
        event = "l2_load"
        new_state = "2"

        [inject-error]
        event = "write_aio"
        sector = "8"
        once = "on"
        state = "2"
        """);
    assertThat(rules).containsExactly(
        new BlkdebugRule(BlkdebugRule.Action.INJECT_ERROR, "write_aio", 2, 5, 4096, true, false,
            BlkdebugRule.DEFAULT_IO_TYPES, 0),
        new BlkdebugRule(BlkdebugRule.Action.SET_STATE, "l2_load", 0, 0, -1, false, false, 0, 2));
    assertThatThrownBy(() -> BlkdebugRules.parseConfig("[inject-error]\nerrno = \"5\"\n"))
        .hasMessage("Missing event name for rule");
  }

  @Test
  void blkdebugFailsTheRequestsItsArmedRulesCover() throws Exception {
    List<BlkdebugRule> rules = BlkdebugRules.parseConfig("""
        [inject-error]
        event = "write_aio"
        sector = "1"
        errno = "28"
        once = "on"
        """);
    try (BlkdebugStorage storage = new BlkdebugStorage(new MemoryStorage("m", new byte[4096], false), rules)) {
      storage.write(ByteBuffer.allocate(512), 512); // not armed yet
      storage.debugEvent("write_aio");
      storage.write(ByteBuffer.allocate(512), 0); // does not cover sector 1
      assertThatThrownBy(() -> storage.write(ByteBuffer.allocate(1024), 0))
          .isInstanceOf(FileSystemException.class).hasMessageContaining("No space left on device");
      storage.debugEvent("write_aio");
      storage.write(ByteBuffer.allocate(1024), 0); // once: gone
    }
  }

  @Test
  void nullStorageReadsZerosAndSwallowsWrites() throws Exception {
    NullStorage device = new NullStorage("null-co", 4096, true, 0);
    device.write(ByteBuffer.wrap(new byte[] {9}), 0);
    ByteBuffer back = ByteBuffer.wrap(new byte[] {7, 7});
    assertThat(device.read(back, 4095)).isEqualTo(1);
    assertThat(back.get(0)).isZero();
    assertThat(device.size()).isEqualTo(4096);
  }

  @Test
  void aRawWindowStaysInsideItsRange() throws Exception {
    MemoryStorage whole = new MemoryStorage("m", new byte[4096], false);
    WindowStorage window = new WindowStorage(whole, 1024, 512);
    window.write(ByteBuffer.wrap(new byte[] {4}), 511);
    ByteBuffer back = ByteBuffer.allocate(1);
    whole.readFully(back, 1535);
    assertThat(back.get(0)).isEqualTo((byte) 4);
    assertThatThrownBy(() -> window.write(ByteBuffer.allocate(2), 511)).hasMessageContaining("outside the raw window");
    assertThat(window.read(ByteBuffer.allocate(1), 512)).isEqualTo(-1);
    // a window of fixed size keeps it: the same size changes nothing around it, another is refused
    window.truncate(512);
    assertThat(whole.size()).isEqualTo(4096);
    assertThatThrownBy(() -> window.truncate(1024)).hasMessageContaining("cannot be resized to 1024");
    assertThat(whole.size()).isEqualTo(4096);
  }
}
