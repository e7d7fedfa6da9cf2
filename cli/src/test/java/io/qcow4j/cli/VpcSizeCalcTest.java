package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * vpc's force_size_calc open option (QEMU 7.2's vpc_open): the virtual size from the CHS geometry
 * or from the footer's current size, whatever the creator application says, except that an image
 * of the largest geometry always takes its current size; side by side with qemu-img through
 * --image-opts and json: (info human and JSON, where the option makes the json: name, map,
 * compare), with the footers of qemu-img's images changed as Hyper-V or Virtual PC write them.
 */
class VpcSizeCalcTest {
  /** qemu-img's VHD of 100 MiB ({@code subformat}) with its footers' creator and current size replaced. */
  private static Path image(String subformat, String forceSize, String creator, long currentSize) throws IOException {
    Path image = TestImages.scratch().resolve("disk.vhd");
    Qemu.check("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=" + subformat + ",force_size=" + forceSize,
        image.toString(), "100M");
    Qemu.io(image, "vpc", "write -P 0x5a 0 1M", "write -P 0x6b 99M 1M");
    try (FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      long[] footers = subformat.equals("fixed") ? new long[] {file.size() - 512}
          : new long[] {0, file.size() - 512};
      for (long at : footers) {
        ByteBuffer footer = ByteBuffer.allocate(512);
        file.read(footer, at);
        footer.put(28, creator.getBytes(StandardCharsets.ISO_8859_1));
        if (currentSize > 0) {
          footer.putLong(48, currentSize);
        }
        footer.putInt(64, 0);
        int sum = 0;
        for (int i = 0; i < 512; i++) {
          sum += footer.get(i) & 0xff;
        }
        footer.putInt(64, ~sum);
        file.write(footer.rewind(), at);
      }
    }
    return image;
  }

  @ParameterizedTest
  @CsvSource({"dynamic,off,win ,104000000", "dynamic,off,vpc ,99999744", "fixed,off,vpc ,100000000",
      "fixed,off,qemu,0", "dynamic,on,qem2,0", "fixed,on,qem2,104000000", "dynamic,off,tap\0,103000000",
      "dynamic,off,d2v ,0"})
  void eachModeSizesTheDiskAsQemuDoes(String subformat, String forceSize, String creator, long currentSize)
      throws IOException {
    SideBySide runs = new SideBySide().copy(image(subformat, forceSize, creator, currentSize), "disk.vhd");
    for (String mode : new String[] {"", ",force_size_calc=chs", ",force_size_calc=current_size"}) {
      String spec = "driver=vpc" + mode + ",file.filename=@/disk.vhd";
      runs.run("qemu-img", "info", "--image-opts", spec).same();
      if (subformat.equals("dynamic")) {
        // a fixed image's copies may differ in allocation, which the JSON prints to the byte
        runs.run("qemu-img", "info", "--output=json", "--image-opts", spec).same();
      }
      runs.run("qemu-img", "map", "--output=json", "--image-opts", spec).same();
      runs.run("qemu-img", "compare", "--image-opts", spec, "driver=vpc,file.filename=@/disk.vhd").same();
    }
    String json = "json:{\"driver\": \"vpc\", \"force_size_calc\": \"chs\", \"file\": {\"filename\": \"@/disk.vhd\"}}";
    runs.run("qemu-img", "info", json).same();
  }

  @Test
  void theModeChangesTheSizeOfAHyperVImage() throws IOException {
    Path image = image("dynamic", "off", "win ", 104000000);
    String spec = "driver=vpc,force_size_calc=chs,file.filename=" + image;
    assertThat(Cli.run("info", "--output=json", "--image-opts", spec).out()).contains("\"virtual-size\": 104865792");
    assertThat(Cli.run("info", "--output=json", image.toString()).out()).contains("\"virtual-size\": 104000000");
  }

  @ParameterizedTest
  @ValueSource(strings = {"force_size_calc=xx", "force_size_calc=CHS", "force_size_calc=", "force_size_calc=chs,bogus=1"})
  void badOptionsAreRefusedAsQemuRefusesThem(String options) throws IOException {
    SideBySide runs = new SideBySide().copy(image("dynamic", "off", "win ", 104000000), "disk.vhd");
    runs.run("qemu-img", "info", "--image-opts", "driver=vpc," + options + ",file.filename=@/disk.vhd").same();
  }

  @Test
  void itIsNoCreationOption() {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "vpc", "-o", "force_size_calc=chs", "@/new.vhd", "10M").same();
  }
}
