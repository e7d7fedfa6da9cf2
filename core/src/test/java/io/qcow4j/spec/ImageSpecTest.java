package io.qcow4j.spec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.disk.BackingPolicy;
import io.qcow4j.disk.ImageFormat;
import io.qcow4j.disk.Locking;
import io.qcow4j.disk.OpenOptions;
import org.junit.jupiter.api.Test;

/** The three ways to name an image read into one spec, and QEMU's refusals, message for message. */
class ImageSpecTest {
  @Test
  void theThreeFormsReadAlike() throws Exception {
    ImageSpec plain = ImageSpec.parse("dir/x.qcow2", ImageFormat.QCOW2);
    ImageSpec nested = ImageSpec.parse("json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"dir/x.qcow2\"}}", (ImageFormat) null);
    ImageSpec dotted = ImageSpec.parse("json:{\"driver\":\"qcow2\",\"file.filename\":\"dir/x.qcow2\"}", (ImageFormat) null);
    ImageSpec options = ImageSpec.parseOptions("driver=qcow2,file.filename=dir/x.qcow2", true);
    for (ImageSpec spec : new ImageSpec[] {plain, nested, dotted, options}) {
      assertThat(spec.format()).isEqualTo(ImageFormat.QCOW2);
      assertThat(spec.filename()).isEqualTo("dir/x.qcow2");
      assertThat(spec.openOptions(OpenOptions.readOnlyDefaults())).isEqualTo(
          OpenOptions.readOnlyDefaults().withFormat(ImageFormat.QCOW2));
      assertThat(spec.formatOptions(ImageFormat.QCOW2).backing()).isInstanceOf(FormatOptions.FromHeader.class);
      assertThat(spec.displayName(ImageFormat.QCOW2)).isEqualTo("dir/x.qcow2");
    }
    assertThat(plain.isPlainFilename()).isTrue();
    assertThat(options.name()).isEqualTo("driver=qcow2,file.filename=dir/x.qcow2");
  }

  @Test
  void formatOverridesTheJsonDriverAndMayBeProbed() throws Exception {
    assertThat(ImageSpec.parse("json:{\"driver\":\"qcow2\",\"file.filename\":\"x\"}", ImageFormat.RAW).format())
        .isEqualTo(ImageFormat.RAW);
    assertThat(ImageSpec.parse("json:{\"file\":{\"filename\":\"x\"}}", (ImageFormat) null).format()).isNull();
    assertThat(ImageSpec.parseOptions("file.filename=x", true).format()).isNull();
  }

  @Test
  void commasAreEscapedByDoubling() throws Exception {
    ImageSpec spec = ImageSpec.parseOptions("driver=qcow2,file.filename=a,,b", true);
    assertThat(spec.filename()).isEqualTo("a,b");
  }

  @Test
  void lockingReadOnlyAndForceShareReachTheOpenOptions() throws Exception {
    ImageSpec spec = ImageSpec.parseOptions("driver=qcow2,file.filename=x,file.locking=off,read-only=on,force-share=on", true);
    OpenOptions options = spec.openOptions(OpenOptions.readWriteDefaults());
    assertThat(options.locking()).isEqualTo(Locking.OFF);
    assertThat(options.readOnly()).isTrue();
    assertThat(options.forceShare()).isTrue();
    assertThat(ImageSpec.parse("json:{\"file\":{\"filename\":\"x\",\"locking\":false}}", (ImageFormat) null).locking())
        .isEqualTo(Locking.OFF);
  }

  @Test
  void forceShareNeedsReadOnly() throws Exception {
    ImageSpec spec = ImageSpec.parseOptions("driver=qcow2,file.filename=x,force-share=on", true);
    assertThatThrownBy(() -> spec.openOptions(OpenOptions.readWriteDefaults()))
        .hasMessage("force-share=on can only be used with read-only images");
    assertThatThrownBy(() -> ImageSpec.ofFilename("x", null).withForceShare().openOptions(OpenOptions.readWriteDefaults()))
        .hasMessage("force-share=on can only be used with read-only images");
  }

  @Test
  void backingNullOrEmptyTurnsTheBackingFileOff() throws Exception {
    ImageSpec json = ImageSpec.parse("json:{\"file.filename\":\"x\",\"backing\":null}", (ImageFormat) null);
    assertThat(json.backingDisabled()).isTrue();
    assertThat(json.warnings()).isEmpty();
    assertThat(json.openOptions(OpenOptions.readOnlyDefaults()).backingPolicy()).isEqualTo(BackingPolicy.IGNORE);
    ImageSpec empty = ImageSpec.parseOptions("driver=qcow2,file.filename=x,backing=", true);
    assertThat(empty.backingDisabled()).isTrue();
    assertThat(empty.warnings()).containsExactly("Use of \"backing\": \"\" is deprecated; use \"backing\": null instead");
    assertThat(empty.formatOptions(ImageFormat.QCOW2).backing()).isInstanceOf(FormatOptions.Disabled.class);
  }

  @Test
  void backingOptionsDescribeTheBackingFile() throws Exception {
    ImageSpec spec = ImageSpec.parseOptions("driver=qcow2,file.filename=x,backing.driver=raw,backing.file.filename=b", true);
    FormatOptions.Override backing = (FormatOptions.Override) spec.formatOptions(ImageFormat.QCOW2).backing();
    assertThat(backing.spec().format()).isEqualTo(ImageFormat.RAW);
    assertThat(backing.spec().filename()).isEqualTo("b");
    ImageSpec partial = ImageSpec.parse("json:{\"file.filename\":\"x\",\"backing\":{\"file\":{\"locking\":\"off\"}}}", (ImageFormat) null);
    // the backing file's name is left to the header, its locking is set
    FormatOptions.Override locked = (FormatOptions.Override) partial.formatOptions(ImageFormat.QCOW2).backing();
    assertThat(locked.spec().filename()).isNull();
    assertThat(locked.spec().locking()).isEqualTo(Locking.OFF);
    ImageSpec named = ImageSpec.parseOptions("driver=qcow2,file.filename=x,backing.driver=qcow2", true);
    FormatOptions.Override override = (FormatOptions.Override) named.formatOptions(ImageFormat.QCOW2).backing();
    assertThat(override.spec().filename()).isNull();
    assertThat(override.optionName()).isEqualTo("backing.driver");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,backing=node0", true)
        .formatOptions(ImageFormat.QCOW2))
        .hasMessage("Could not open backing file: Cannot find device='node0' nor node-name='node0'");
    // the backing file's own options are checked when its format is known, as it is opened
    FormatOptions.Override bogus = (FormatOptions.Override) ImageSpec.parseOptions(
        "driver=qcow2,file.filename=x,backing.bogus=1", true).formatOptions(ImageFormat.QCOW2).backing();
    assertThatThrownBy(() -> bogus.spec().formatOptions(ImageFormat.QCOW2))
        .hasMessage("Block format 'qcow2' does not support the option 'bogus'");
  }

  @Test
  void dataFileOptions() throws Exception {
    assertThat(ImageSpec.parseOptions("driver=qcow2,file.filename=x,data-file.filename=d", true)
        .formatOptions(ImageFormat.QCOW2).dataFile()).isEqualTo("d");
    assertThat(ImageSpec.parseOptions("driver=qcow2,file.filename=x,data-file.driver=raw,data-file.file.filename=d", true)
        .formatOptions(ImageFormat.QCOW2).dataFile()).isEqualTo("d");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,data-file=d", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Cannot find device='d' nor node-name='d'");
  }

  @Test
  void unknownOptionsAreRefusedByName() throws Exception {
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,bogus=1", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Block format 'qcow2' does not support the option 'bogus'");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,file.bogus=1", true))
        .hasMessage("Block protocol 'file' doesn't support the option 'bogus'");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=raw,file.filename=x,lazy-refcounts=on", true)
        .formatOptions(ImageFormat.RAW)).hasMessage("Block format 'raw' does not support the option 'lazy-refcounts'");
    assertThatThrownBy(() -> ImageSpec.parse("json:{\"file.filename\":\"x\",\"x\":[1]}", (ImageFormat) null)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Block format 'qcow2' does not support the option 'x.0'");
  }

  @Test
  void valuesAreTypedAsQemuTypesThem() throws Exception {
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,lazy-refcounts=maybe", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Parameter 'lazy-refcounts' expects 'on' or 'off'");
    assertThatThrownBy(() -> ImageSpec.parse("json:{\"file.filename\":\"x\",\"lazy-refcounts\":1}", (ImageFormat) null)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Parameter 'lazy-refcounts' expects 'on' or 'off'");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,l2-cache-size=abc", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessageStartingWith("Parameter 'l2-cache-size' expects a non-negative number below 2^64\n");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,file.locking=maybe", true))
        .hasMessage("invalid parameter value: maybe");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,read-only=maybe", true))
        .hasMessage("Parameter 'read-only' expects 'on' or 'off'");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,overlap-check=bogus", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Unsupported value 'bogus' for qcow2 option 'overlap-check'. "
        + "Allowed are any of the following: none, constant, cached, all");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,cache-clean-interval=-1", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("Cache clean interval too big");
  }

  @Test
  void cacheSizesBecomeTheCacheBudget() throws Exception {
    assertThat(ImageSpec.parseOptions("driver=qcow2,file.filename=x,l2-cache-size=1M", true)
        .formatOptions(ImageFormat.QCOW2).cacheBytes()).isEqualTo(1L << 20);
    assertThat(ImageSpec.parseOptions("driver=qcow2,file.filename=x,cache-size=9M", true)
        .formatOptions(ImageFormat.QCOW2).cacheBytes()).isEqualTo(8L << 20);
    assertThat(ImageSpec.parseOptions("driver=qcow2,file.filename=x,cache-size=3M,refcount-cache-size=1M", true)
        .formatOptions(ImageFormat.QCOW2).cacheBytes()).isEqualTo(2L << 20);
    assertThat(ImageSpec.parseOptions("driver=qcow2,file.filename=x", true)
        .formatOptions(ImageFormat.QCOW2).cacheBytes()).isNull();
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,cache-size=1M,l2-cache-size=2M", true)
        .formatOptions(ImageFormat.QCOW2)).hasMessage("l2-cache-size may not exceed cache-size");
    FormatOptions entrySize = ImageSpec.parseOptions("driver=qcow2,file.filename=x,l2-cache-entry-size=3000", true)
        .formatOptions(ImageFormat.QCOW2);
    assertThatThrownBy(() -> entrySize.checkQcow2(3, 65536, 1L << 30, false, false, false))
        .hasMessage("L2 cache entry size must be a power of two between 512 and the cluster size (65536)");
    FormatOptions lazy = ImageSpec.parseOptions("driver=qcow2,file.filename=x,lazy-refcounts=on", true)
        .formatOptions(ImageFormat.QCOW2);
    assertThatThrownBy(() -> lazy.checkQcow2(2, 65536, 1L << 30, false, false, false))
        .hasMessage("Lazy refcounts require a qcow2 image with at least qemu 1.1 compatibility level");
  }

  @Test
  void cacheSizesQemuCannotHoldAreRefused() throws Exception {
    // QEMU counts the caches in entries of an int: 256T of refcount cache is 2^32 clusters of 64k
    FormatOptions refcount = ImageSpec.parseOptions("driver=qcow2,file.filename=x,refcount-cache-size=256T", true)
        .formatOptions(ImageFormat.QCOW2);
    assertThatThrownBy(() -> refcount.checkQcow2(3, 65536, 64L << 20, false, false, false))
        .hasMessage("Refcount cache size too big");
    // the L2 cache is bounded by what the disk needs: 1T of 512-byte entries only for a disk that large
    FormatOptions l2 = ImageSpec.parseOptions("driver=qcow2,file.filename=x,l2-cache-entry-size=512,l2-cache-size=1T",
        true).formatOptions(ImageFormat.QCOW2);
    assertThatThrownBy(() -> l2.checkQcow2(3, 256 << 10, 32L << 50, false, false, false))
        .hasMessage("L2 cache size too big");
    l2.checkQcow2(3, 256 << 10, 64L << 20, false, false, false);
    FormatOptions huge = ImageSpec.parseOptions("driver=qcow2,file.filename=x,refcount-cache-size=15E", true)
        .formatOptions(ImageFormat.QCOW2);
    assertThatThrownBy(() -> huge.checkQcow2(3, 512, 1L << 20, false, false, false))
        .hasMessage("Refcount cache size too big");
    ImageSpec.parseOptions("driver=qcow2,file.filename=x,refcount-cache-size=128k", true)
        .formatOptions(ImageFormat.QCOW2).checkQcow2(3, 65536, 64L << 20, false, false, false);
  }

  @Test
  void missingFileOrDriver() {
    assertThatThrownBy(() -> ImageSpec.parseOptions("", true)).hasMessage("Must specify either driver or file");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2", true))
        .hasMessage("A block device must be specified for \"file\"");
    assertThatThrownBy(() -> ImageSpec.parseOptions("x.qcow2", true))
        .hasMessage("Cannot find device='x.qcow2' nor node-name='x.qcow2'");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.driver=file", true))
        .hasMessage("The 'file' block driver requires a file name");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file=a,file.filename=b", true))
        .hasMessage("Cannot reference an existing block device with additional options or a new filename");
  }

  @Test
  void malformedJson() {
    assertThatThrownBy(() -> ImageSpec.parse("json:{\"driver\":\"qcow2\"", (ImageFormat) null))
        .hasMessage("Could not parse the JSON options: JSON parse error, premature EOI");
    assertThatThrownBy(() -> ImageSpec.parse("json:[1]", (ImageFormat) null)).hasMessage("Invalid JSON object given");
    assertThatThrownBy(() -> ImageSpec.parse("json:{\"a\":1,\"a\":2}", (ImageFormat) null))
        .hasMessage("Could not parse the JSON options: JSON parse error, duplicate key");
  }

  @Test
  void shortFormBooleansWarnAndAnIdMustBeAnIdentifier() throws Exception {
    ImageSpec spec = ImageSpec.parseOptions("driver=qcow2,file.filename=x,force-share", true);
    assertThat(spec.forceShare()).isTrue();
    assertThat(spec.warnings()).containsExactly("short-form boolean option 'force-share' deprecated\n"
        + "Please use force-share=on instead");
    assertThatThrownBy(() -> ImageSpec.parseOptions("driver=qcow2,file.filename=x,id=0x", true))
        .isInstanceOfSatisfying(ImageSpecException.class, e -> assertThat(e.standalone()).isTrue());
  }

  @Test
  void aKeySecretNamesTheImageInJson() throws Exception {
    ImageSpec spec = ImageSpec.parseOptions("driver=qcow2,file.filename=top.qcow2,encrypt.key-secret=sec0", true);
    assertThat(spec.displayName(ImageFormat.QCOW2)).isEqualTo(
        "json:{\"encrypt.key-secret\": \"sec0\", \"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", \"filename\": \"top.qcow2\"}}");
    assertThat(spec.formatOptions(ImageFormat.QCOW2).keySecret()).isEqualTo("sec0");
  }
}
