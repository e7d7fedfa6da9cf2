package io.qcow4j.qcow2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.CorruptImageException;
import io.qcow4j.qcow2.format.Header;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * zstd clusters through the system's libzstd ({@link SystemZstd}, present wherever qemu-img is):
 * a cluster comes back whole from its frame, heap or direct, with the bytes that follow the frame
 * in the file (padding, the next cluster) left alone; a frame that is not zstd is a corrupt image
 * naming zstd's error; a cluster that does not compress is stored as it is (null).
 */
class SystemZstdTest {
  private static byte[] text(int length) {
    byte[] line = "a line of text with words that repeat, 4711\n".getBytes();
    byte[] bytes = new byte[length];
    for (int at = 0; at < length; at++) {
      bytes[at] = line[at % line.length];
    }
    return bytes;
  }

  @Test
  void theSystemLibraryIsUsed() {
    assertThat(SystemZstd.INSTANCE).as("libzstd.so.1, which qemu-img links against").isNotNull();
    assertThat(SystemZstd.decoding()).isNotNull();
  }

  @Test
  void aClusterComesBackWholeHeapOrDirectWithWhatFollowsTheFrameLeftAlone() throws CorruptImageException {
    byte[] cluster = text(65536);
    byte[] frame = Compression.compress(Header.COMPRESSION_ZSTD, ByteBuffer.wrap(cluster));
    assertThat(frame).isNotNull().hasSizeLessThan(4096);
    byte[] stored = Arrays.copyOf(frame, frame.length + 700);
    Arrays.fill(stored, frame.length, stored.length, (byte) 0x5a);
    for (boolean directIn : new boolean[] {false, true}) {
      for (boolean directOut : new boolean[] {false, true}) {
        ByteBuffer compressed = directIn ? ByteBuffer.allocateDirect(stored.length).put(stored).flip()
            : ByteBuffer.wrap(stored);
        ByteBuffer out = directOut ? ByteBuffer.allocateDirect(65536 + 100) : ByteBuffer.allocate(65536 + 100);
        out.position(100);
        Compression.decompress(Header.COMPRESSION_ZSTD, compressed, out.slice(100, 65536), "test.qcow2", 0x10000);
        byte[] back = new byte[65536];
        out.get(100, back);
        assertThat(back).as("direct in %s, direct out %s", directIn, directOut).isEqualTo(cluster);
      }
    }
  }

  @Test
  void aFrameThatIsNotZstdIsACorruptImageNamingZstdsError() {
    ByteBuffer garbage = ByteBuffer.wrap(text(2048));
    assertThatThrownBy(() -> Compression.decompress(Header.COMPRESSION_ZSTD, garbage, ByteBuffer.allocate(65536),
        "test.qcow2", 0x30000)).isInstanceOf(CorruptImageException.class)
        .hasMessageContaining("test.qcow2: compressed cluster at host offset 0x30000")
        .hasMessageContaining("not valid zstd: Unknown frame descriptor");
  }

  @Test
  void aShortFrameIsACorruptImage() throws Exception {
    byte[] frame = Compression.compress(Header.COMPRESSION_ZSTD, ByteBuffer.wrap(text(65536)));
    ByteBuffer half = ByteBuffer.wrap(Arrays.copyOf(frame, frame.length / 2));
    assertThatThrownBy(() -> Compression.decompress(Header.COMPRESSION_ZSTD, half, ByteBuffer.allocate(65536),
        "test.qcow2", 0)).isInstanceOf(CorruptImageException.class).hasMessageContaining("less than a cluster");
    // the context's session was reset: the next cluster decompresses whole
    ByteBuffer out = ByteBuffer.allocate(65536);
    Compression.decompress(Header.COMPRESSION_ZSTD, ByteBuffer.wrap(frame), out, "test.qcow2", 0);
    assertThat(out.array()).isEqualTo(text(65536));
  }

  @Test
  void randomDataIsNotCompressed() {
    byte[] random = new byte[65536];
    new Random(9).nextBytes(random);
    assertThat(Compression.compress(Header.COMPRESSION_ZSTD, ByteBuffer.wrap(random))).isNull();
    assertThat(Compression.compress(Header.COMPRESSION_ZSTD, ByteBuffer.allocateDirect(65536).put(random).flip())).isNull();
  }
}
