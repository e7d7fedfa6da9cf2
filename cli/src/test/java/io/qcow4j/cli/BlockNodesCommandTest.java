package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/**
 * Image specs that stack block nodes (blkdebug, null-co, raw's window, the file driver named,
 * copy-on-read, compress), side by side with qemu-io and qemu-img.
 */
class BlockNodesCommandTest {

  private static SideBySide withImage(String... createArgs) {
    SideBySide runs = new SideBySide();
    String[] args = new String[createArgs.length + 2];
    args[0] = "create";
    args[1] = "-q";
    System.arraycopy(createArgs, 0, args, 2, createArgs.length);
    assertThat(runs.run("qemu-img", args).same().ours().exitCode()).isZero();
    return runs;
  }

  @Test
  void blkdebugFilenameProbesTheFormatBelowIt() {
    SideBySide runs = withImage("-f", "qcow2", "@/t.qcow2", "1M");
    runs.run("qemu-io", "-c", "write -P 1 0 64k", "-c", "read -P 1 0 64k", "blkdebug::@/t.qcow2").same();
    runs.run("qemu-io", "-c", "info", "blkdebug::@/t.qcow2").same();
  }

  @Test
  void blkdebugConfigInjectsAnErrorAtItsEvent() throws Exception {
    SideBySide runs = withImage("-f", "raw", "@/t.raw", "1M");
    String config = "[inject-error]\nevent = \"write_aio\"\nerrno = \"28\"\n";
    runs.write("blkdebug.conf", config);
    SideBySide.Runs write = runs.run("qemu-io", "-f", "raw", "-c", "write 0 4k",
        "blkdebug:@/blkdebug.conf:@/t.raw").same();
    assertThat(write.ours().out()).contains("write failed: No space left on device");
    runs.run("qemu-io", "-f", "raw", "-c", "read 0 4k", "blkdebug:@/blkdebug.conf:@/t.raw").same();
  }

  @Test
  void blkdebugOptionsAreChecked() {
    SideBySide runs = withImage("-f", "raw", "@/t.raw", "1M");
    runs.run("qemu-io", "-c", "open -o driver=raw,file.driver=blkdebug,file.align=3 @/t.raw").same();
    runs.run("qemu-io", "-c", "open -o driver=raw,file.driver=blkdebug,file.align=4k,file.max-transfer=6k @/t.raw")
        .same();
    runs.run("qemu-io", "-c", "write -P 7 512 1k", "-c", "read -P 7 512 1k",
        "json:{'driver':'raw','file':{'driver':'blkdebug','align':4096,'image':{'driver':'file','filename':'@/t.raw'},"
            + "'inject-error':[{'event':'read_aio','sector':2,'once':true}]}}").same();
  }

  @Test
  void nullDevicesOpenWithoutAFormat() {
    SideBySide runs = new SideBySide();
    runs.run("qemu-io", "-f", "null-co", "-c", "reopen", "-c", "info", "json:{'driver': 'null-co', 'size': 65536}")
        .same();
    runs.run("qemu-io", "-c", "read -P 0 0 4k", "-c", "length", "json:{'driver':'null-co','read-zeroes':true}").same();
  }

  @Test
  void rawOffsetAndSizeMakeAWindow() {
    SideBySide runs = withImage("-f", "raw", "@/t.raw", "4k");
    String window = "json:{\"driver\":\"raw\",\"offset\":\"512\",\"size\":\"1024\",\"file\":{\"driver\":\"file\","
        + "\"filename\":\"@/t.raw\"}}";
    runs.run("qemu-io", "-c", "write -P 10 0 1k", "-c", "write 1023 2", "-c", "length", window).same();
    runs.run("qemu-io", "-f", "raw", "-c", "read -P 0 0 512", "-c", "read -P 10 512 1k", "-c", "read -P 0 1536 512",
        "@/t.raw").same();
    runs.run("qemu-io", window, "-c", "reopen -o driver=raw,offset=2048,size=512", "-c", "write -P 3 0 512").same();
  }

  @Test
  void theFileDriverWantsARegularFile() throws Exception {
    SideBySide runs = new SideBySide();
    Files.createDirectory(runs.theirs.resolve("d"));
    Files.createDirectory(runs.ours.resolve("d"));
    runs.run("qemu-io", "-c", "open -r -o driver=file,filename=@/d").same();
    runs.run("qemu-io", "-c", "open -o driver=file,filename=@/d").same();
    runs.run("qemu-io", "-c", "open -r -o driver=file,filename=/dev/null,locking=off").same();
    runs.run("qemu-io", "-c", "open -r -o driver=host_device,filename=@/d").same();
  }

  @Test
  void compressFilterWritesCompressedClusters() {
    SideBySide runs = withImage("-f", "qcow2", "-o", "cluster_size=65536", "@/t.qcow2", "2M");
    runs.run("qemu-io", "-c", "write -P 0xbb 0 229376", "--image-opts",
        "driver=compress,file.driver=qcow2,file.file.driver=file,file.file.filename=@/t.qcow2").same();
    SideBySide.Runs check = runs.run("qemu-img", "check", "--output=json", "@/t.qcow2").same();
    assertThat(check.ours().out()).contains("\"compressed-clusters\": 4");
    runs.run("qemu-io", "-f", "qcow2", "-c", "read -P 0xbb 0 229376", "@/t.qcow2").same();
  }

  @Test
  void copyOnReadFilterCopiesIntoTheImage() {
    SideBySide runs = withImage("-f", "qcow2", "@/base.qcow2", "1M");
    runs.run("qemu-io", "-f", "qcow2", "-c", "write -P 5 0 128k", "@/base.qcow2").same();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "@/base.qcow2", "@/top.qcow2").same();
    runs.run("qemu-io", "-c", "open -o driver=copy-on-read,file.driver=qcow2 @/top.qcow2", "-c", "read -P 5 0 64k")
        .same();
    runs.run("qemu-img", "map", "--output=json", "@/top.qcow2").same();
  }

  @Test
  void aDataFileCanBeAnyStorageNode() throws Exception {
    SideBySide runs = withImage("-f", "qcow2", "-o", "data_file=@/t.data", "@/t.qcow2", "1M");
    runs.run("qemu-io", "-c", "write -P 3 0 64k", "-c", "read -P 0 0 64k",
        "json:{'driver':'qcow2','file':{'driver':'file','filename':'@/t.qcow2'},"
            + "'data-file':{'driver':'null-co','size':1048576,'read-zeroes':true}}").same();
    String config = "[inject-error]\nevent = \"write_aio\"\niotype = \"write\"\n";
    runs.write("blkdebug.conf", config);
    runs.run("qemu-io", "-c", "write 64k 4k",
        "json:{'driver':'qcow2','file':{'driver':'file','filename':'@/t.qcow2'},'data-file':{'driver':'raw',"
            + "'file':{'driver':'blkdebug','config':'@/blkdebug.conf','image':{'driver':'file',"
            + "'filename':'@/t.data'}}}}").same();
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @Test
  void aJsonBackingFileStacksItsNodesAndCommitReportsTheJobsError() {
    SideBySide runs = withImage("-f", "qcow2", "@/base.qcow2", "1M");
    String backing = "json:{'driver': 'qcow2', 'file': { 'driver': 'blkdebug', 'inject-error': [{ 'event': "
        + "'write_aio', 'errno': 28, 'once': true }], 'image': { 'driver': 'file', 'filename': '@/base.qcow2' }}}";
    runs.run("qemu-img", "create", "-f", "qcow2", "-b", backing, "-F", "qcow2", "@/top.qcow2").same();
    runs.run("qemu-io", "-c", "write 0 64k", "@/top.qcow2").same();
    runs.run("qemu-img", "commit", "@/top.qcow2").same();
    runs.run("qemu-img", "check", "@/base.qcow2").same();
  }

  @Test
  void compareWarnsOfTheSizeMismatchAfterTheTailsReadError() throws Exception {
    SideBySide runs = withImage("-f", "qcow2", "@/big.qcow2", "1M");
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "@/empty.qcow2", "0").same();
    runs.run("qemu-io", "-c", "write 512 512", "@/big.qcow2").same();
    String config = "[inject-error]\nevent = \"read_aio\"\n";
    runs.write("blkdebug.conf", config);
    SideBySide.Runs compare = runs.run("qemu-img", "compare", "blkdebug:@/blkdebug.conf:@/big.qcow2",
        "@/empty.qcow2").same();
    assertThat(compare.ours().out()).isEqualTo("Warning: Image size mismatch!\n");
  }

  @Test
  void commitFindsARelativeBaseNameFromTheImagesDirectory() throws Exception {
    SideBySide runs = new SideBySide();
    Files.createDirectory(runs.theirs.resolve("sub"));
    Files.createDirectory(runs.ours.resolve("sub"));
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "@/sub/t.base", "1M").same();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "t.base", "-F", "qcow2", "@/sub/t.mid").same();
    runs.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "t.mid", "-F", "qcow2", "@/sub/t.top").same();
    runs.run("qemu-img", "commit", "-b", "sub/t.mid", "@/sub/t.top").same();
    runs.run("qemu-img", "commit", "-b", "t.mid", "@/sub/t.top").same();
    runs.run("qemu-img", "commit", "-b", "@/sub/t.mid", "@/sub/t.top").same();
  }

  @Test
  void qcow2MetadataLoadsAreBlkdebugEvents() {
    SideBySide runs = withImage("-f", "qcow2", "@/t.qcow2", "64M");
    runs.run("qemu-io", "-c", "write -P 42 0x38000 512", "@/t.qcow2").same();
    SideBySide.Runs read = runs.run("qemu-io", "-c", "read -P 42 0x38000 512",
        "json:{'driver': 'qcow2', 'file': {'driver': 'blkdebug', 'inject-error': [{'event': 'l2_load'}],"
            + " 'image.filename': '@/t.qcow2'}}").same();
    assertThat(read.ours().out()).contains("read failed: Input/output error");
    runs.run("qemu-img", "check", "@/t.qcow2").same();
  }

  @Test
  void convertFromANullDeviceAllocatesAsQemuImgDoes() {
    SideBySide runs = new SideBySide();
    String zeros = "json:{ 'driver': 'null-co', 'size': 1048576, 'read-zeroes': true }";
    for (String format : new String[] {"raw", "qcow2"}) {
      for (String sparse : new String[] {"512", "0"}) {
        String target = "@/t" + sparse + "." + format;
        runs.run("qemu-img", "convert", "-O", format, "-S", sparse, zeros, target).same();
        runs.run("qemu-img", "map", "-f", format, target).same();
      }
    }
  }

  @Test
  void quorumReadsWhatItsChildrenAgreeOn() {
    SideBySide runs = withImage("-f", "qcow2", "@/a.qcow2", "1M");
    runs.run("qemu-io", "-c", "write -P 9 0 64k", "@/a.qcow2").same();
    runs.run("qemu-img", "convert", "-O", "qcow2", "@/a.qcow2", "@/b.qcow2").same();
    String quorum = "json:{'driver': 'qcow2', 'file': {'driver': 'quorum', 'vote-threshold': %d, 'children': ["
        + "{'driver': 'file', 'filename': '@/a.qcow2'}, {'driver': 'file', 'filename': '@/b.qcow2'}]}}";
    // the name, format and header as qemu-img's; the disk size QEMU sums over the children is not (qcow4j: 0)
    SideBySide.Runs info = runs.run("qemu-img", "info", "-U", quorum.formatted(2));
    assertThat(info.ours().out().replaceAll("(?m)^disk size: .*\n", ""))
        .isEqualTo(info.theirs().out().replaceAll("(?m)^disk size: .*\n", ""));
    assertThat(info.ours().exitCode()).isZero();
    runs.run("qemu-io", "-r", "-c", "read -P 9 0 64k", quorum.formatted(2)).same();
    runs.run("qemu-io", "-r", "-c", "read 0 512", quorum.formatted(3)).same();
  }
}
