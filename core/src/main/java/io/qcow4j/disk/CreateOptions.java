package io.qcow4j.disk;

import java.util.Objects;

/**
 * What a new image looks like, with qemu-img create's options and defaults: 64 KiB clusters,
 * compat 1.1, 16-bit refcounts, zlib compression, no preallocation. {@code backingFile} is recorded
 * as given; {@code dataFile} is created beside the image when relative. Immutable: build one with
 * {@link #builder(long)} or change one setting of a copy with a {@code with} method. The values are
 * checked when the image is created, with qemu-img's messages ({@code io.qcow4j.options.CreateRules}).
 */
public final class CreateOptions {
  private final long size;
  private final int clusterSize;
  private final Compat compat;
  private final int refcountBits;
  private final boolean lazyRefcounts;
  private final boolean extendedL2;
  private final CompressionType compressionType;
  private final Preallocation preallocation;
  private final String dataFile;
  private final boolean dataFileRaw;
  private final String backingFile;
  private final ImageFormat backingFormat;
  private final boolean vpcFixed;
  private final boolean vpcForceSize;
  private final boolean vdiStatic;
  private final boolean vhdxFixed;
  private final long vhdxBlockSize;
  private final long vhdxLogSize;
  private final boolean vhdxBlockStateZero;
  private final Encryption encryption;
  private final String vmdkSubformat;
  private final String vmdkAdapterType;
  private final String vmdkHwVersion;
  private final String vmdkToolsVersion;
  private final boolean vmdkZeroedGrain;
  private final int qedTableSize;

  private CreateOptions(Builder builder) {
    this.size = builder.size;
    this.clusterSize = builder.clusterSize;
    this.compat = Objects.requireNonNull(builder.compat, "compat");
    this.refcountBits = builder.refcountBits;
    this.lazyRefcounts = builder.lazyRefcounts;
    this.extendedL2 = builder.extendedL2;
    this.compressionType = Objects.requireNonNull(builder.compressionType, "compressionType");
    this.preallocation = Objects.requireNonNull(builder.preallocation, "preallocation");
    this.dataFile = builder.dataFile;
    this.dataFileRaw = builder.dataFileRaw;
    this.backingFile = builder.backingFile;
    this.backingFormat = builder.backingFormat;
    this.vpcFixed = builder.vpcFixed;
    this.vpcForceSize = builder.vpcForceSize;
    this.vdiStatic = builder.vdiStatic;
    this.vhdxFixed = builder.vhdxFixed;
    this.vhdxBlockSize = builder.vhdxBlockSize;
    this.vhdxLogSize = builder.vhdxLogSize;
    this.vhdxBlockStateZero = builder.vhdxBlockStateZero;
    this.encryption = builder.encryption;
    this.vmdkSubformat = builder.vmdkSubformat;
    this.vmdkAdapterType = builder.vmdkAdapterType;
    this.vmdkHwVersion = builder.vmdkHwVersion;
    this.vmdkToolsVersion = builder.vmdkToolsVersion;
    this.vmdkZeroedGrain = builder.vmdkZeroedGrain;
    this.qedTableSize = builder.qedTableSize;
  }

  /** qemu-img's defaults for an image of {@code size} bytes. */
  public static CreateOptions of(long size) {
    return builder(size).build();
  }

  /** A builder holding qemu-img's defaults for an image of {@code size} bytes. */
  public static Builder builder(long size) {
    return new Builder(size);
  }

  /** A builder holding these options. */
  public Builder toBuilder() {
    Builder builder = new Builder(size);
    builder.clusterSize = clusterSize;
    builder.compat = compat;
    builder.refcountBits = refcountBits;
    builder.lazyRefcounts = lazyRefcounts;
    builder.extendedL2 = extendedL2;
    builder.compressionType = compressionType;
    builder.preallocation = preallocation;
    builder.vpcFixed = vpcFixed;
    builder.vpcForceSize = vpcForceSize;
    builder.vdiStatic = vdiStatic;
    builder.vhdxFixed = vhdxFixed;
    builder.vhdxBlockSize = vhdxBlockSize;
    builder.vhdxLogSize = vhdxLogSize;
    builder.vhdxBlockStateZero = vhdxBlockStateZero;
    builder.vmdkSubformat = vmdkSubformat;
    builder.vmdkAdapterType = vmdkAdapterType;
    builder.vmdkHwVersion = vmdkHwVersion;
    builder.vmdkToolsVersion = vmdkToolsVersion;
    builder.vmdkZeroedGrain = vmdkZeroedGrain;
    builder.qedTableSize = qedTableSize;
    builder.dataFile = dataFile;
    builder.dataFileRaw = dataFileRaw;
    builder.backingFile = backingFile;
    builder.backingFormat = backingFormat;
    builder.encryption = encryption;
    return builder;
  }

  /** The virtual size in bytes (rounded up to 512 bytes when the image is made). */
  public long size() {
    return size;
  }

  /** The cluster size in bytes: a power of two from 512 bytes to 2 MiB. */
  public int clusterSize() {
    return clusterSize;
  }

  /** The compatibility level (header version). */
  public Compat compat() {
    return compat;
  }

  /** The width of a refcount entry in bits: a power of two up to 64 (16 for compat 0.10). */
  public int refcountBits() {
    return refcountBits;
  }

  /** Whether refcount updates are deferred (compat 1.1). */
  public boolean lazyRefcounts() {
    return lazyRefcounts;
  }

  /** Whether L2 entries carry subcluster bitmaps (compat 1.1, clusters of 16 KiB or more). */
  public boolean extendedL2() {
    return extendedL2;
  }

  /** How compressed clusters are compressed. */
  public CompressionType compressionType() {
    return compressionType;
  }

  /** What is allocated when the image is made. */
  public Preallocation preallocation() {
    return preallocation;
  }

  /** The external data file's name as recorded in the image, or null. */
  public String dataFile() {
    return dataFile;
  }

  /** Whether the external data file stays valid as a raw image. */
  public boolean dataFileRaw() {
    return dataFileRaw;
  }

  /** The backing file's name as recorded in the image, or null. */
  public String backingFile() {
    return backingFile;
  }

  /** The backing file's format as recorded in the image, or null (probed when opened). */
  public ImageFormat backingFormat() {
    return backingFormat;
  }

  /** For a VHD (vpc) image: whether it is fixed (qemu-img's subformat=fixed) rather than dynamic. */
  public boolean vpcFixed() {
    return vpcFixed;
  }

  /** For a VHD (vpc) image: whether its size is kept as given (force_size=on) rather than rounded to a CHS geometry. */
  public boolean vpcForceSize() {
    return vpcForceSize;
  }

  /** Whether a new VDI image is static (its blocks allocated when it is made) rather than dynamic. */
  public boolean vdiStatic() {
    return vdiStatic;
  }

  /** Whether a new VHDX image is fixed (every block allocated when it is made) rather than dynamic. */
  public boolean vhdxFixed() {
    return vhdxFixed;
  }

  /** A new VHDX image's block size in bytes; 0 lets the size choose it, as qemu-img does. */
  public long vhdxBlockSize() {
    return vhdxBlockSize;
  }

  /** A new VHDX image's log size in bytes (1 MiB by default). */
  public long vhdxLogSize() {
    return vhdxLogSize;
  }

  /** Whether a new dynamic VHDX image marks its unwritten blocks as zero blocks (qemu-img's block_state_zero). */
  public boolean vhdxBlockStateZero() {
    return vhdxBlockStateZero;
  }

  /** A new VMDK image's subformat (monolithicSparse by default, or streamOptimized). */
  public String vmdkSubformat() {
    return vmdkSubformat;
  }

  /** A new VMDK image's adapter type for its descriptor (ide by default). */
  public String vmdkAdapterType() {
    return vmdkAdapterType;
  }

  /** A new VMDK image's virtual hardware version for its descriptor ("4" by default, "6" with compat6). */
  public String vmdkHwVersion() {
    return vmdkHwVersion;
  }

  /** A new VMDK image's tools version for its descriptor ("2147483647" by default). */
  public String vmdkToolsVersion() {
    return vmdkToolsVersion;
  }

  /** Whether a new VMDK image uses zeroed-grain table entries. */
  public boolean vmdkZeroedGrain() {
    return vmdkZeroedGrain;
  }

  /** For a QED image: the size of its L1 and L2 tables in clusters. */
  public int qedTableSize() {
    return qedTableSize;
  }

  /** These options with a virtual size of {@code value} bytes. */
  public CreateOptions withSize(long value) {
    return toBuilder().size(value).build();
  }

  /** These options with clusters of {@code value} bytes. */
  public CreateOptions withClusterSize(int value) {
    return toBuilder().clusterSize(value).build();
  }

  /** These options with the compatibility level {@code value}. */
  public CreateOptions withCompat(Compat value) {
    return toBuilder().compat(value).build();
  }

  /** These options with refcount entries of {@code value} bits. */
  public CreateOptions withRefcountBits(int value) {
    return toBuilder().refcountBits(value).build();
  }

  /** These options with lazy refcounts on or off. */
  public CreateOptions withLazyRefcounts(boolean value) {
    return toBuilder().lazyRefcounts(value).build();
  }

  /** These options with extended L2 entries (subclusters) on or off. */
  public CreateOptions withExtendedL2(boolean value) {
    return toBuilder().extendedL2(value).build();
  }

  /** These options with the compression type {@code value}. */
  public CreateOptions withCompressionType(CompressionType value) {
    return toBuilder().compressionType(value).build();
  }

  /** These options with the preallocation mode {@code value}. */
  public CreateOptions withPreallocation(Preallocation value) {
    return toBuilder().preallocation(value).build();
  }

  /** These options with an external data file ({@code file} null for none), kept raw when {@code raw}. */
  public CreateOptions withDataFile(String file, boolean raw) {
    return toBuilder().dataFile(file, raw).build();
  }

  /** These options with a backing file ({@code file} null for none) and its format (null: probed). */
  public CreateOptions withBacking(String file, ImageFormat format) {
    return toBuilder().backing(file, format).build();
  }

  /** The encryption of the new image (a LUKS image, or qcow2's encrypt.*), or null for none. */
  public Encryption encryption() {
    return encryption;
  }

  /** These options with {@code value} as the encryption (null for none). */
  public CreateOptions withEncryption(Encryption value) {
    return toBuilder().encryption(value).build();
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof CreateOptions that && Objects.equals(encryption, that.encryption) && size == that.size && clusterSize == that.clusterSize
        && compat == that.compat && refcountBits == that.refcountBits && lazyRefcounts == that.lazyRefcounts
        && extendedL2 == that.extendedL2 && compressionType == that.compressionType
        && preallocation == that.preallocation && Objects.equals(dataFile, that.dataFile)
        && dataFileRaw == that.dataFileRaw && Objects.equals(backingFile, that.backingFile)
        && backingFormat == that.backingFormat && vpcFixed == that.vpcFixed && vpcForceSize == that.vpcForceSize
        && vdiStatic == that.vdiStatic && vhdxFixed == that.vhdxFixed && vhdxBlockSize == that.vhdxBlockSize
        && vhdxLogSize == that.vhdxLogSize && vhdxBlockStateZero == that.vhdxBlockStateZero
        && vmdkSubformat.equals(that.vmdkSubformat) && vmdkAdapterType.equals(that.vmdkAdapterType)
        && vmdkHwVersion.equals(that.vmdkHwVersion) && vmdkToolsVersion.equals(that.vmdkToolsVersion)
        && vmdkZeroedGrain == that.vmdkZeroedGrain && qedTableSize == that.qedTableSize;
  }

  @Override
  public int hashCode() {
    return Objects.hash(size, clusterSize, compat, refcountBits, lazyRefcounts, extendedL2, compressionType,
        preallocation, dataFile, dataFileRaw, backingFile, backingFormat, vpcFixed, vpcForceSize, vdiStatic, vhdxFixed, vhdxBlockSize, vhdxLogSize,
        vhdxBlockStateZero, encryption, vmdkSubformat, vmdkAdapterType, vmdkHwVersion, vmdkToolsVersion,
        vmdkZeroedGrain, qedTableSize);
  }

  @Override
  public String toString() {
    return "CreateOptions[size=" + size + ", clusterSize=" + clusterSize + ", compat=" + compat.id()
        + ", refcountBits=" + refcountBits + ", lazyRefcounts=" + lazyRefcounts + ", extendedL2=" + extendedL2
        + ", compressionType=" + compressionType.id() + ", preallocation=" + preallocation.id()
        + ", dataFile=" + dataFile + ", dataFileRaw=" + dataFileRaw + ", backingFile=" + backingFile
        + ", backingFormat=" + (backingFormat == null ? null : backingFormat.id()) + ", vpcFixed=" + vpcFixed
        + ", vpcForceSize=" + vpcForceSize + ", vdiStatic=" + vdiStatic + ", vhdxFixed=" + vhdxFixed
        + ", vhdxBlockSize=" + vhdxBlockSize + ", vhdxLogSize=" + vhdxLogSize + ", vhdxBlockStateZero="
        + vhdxBlockStateZero + ", vmdkSubformat=" + vmdkSubformat + ", vmdkAdapterType=" + vmdkAdapterType
        + ", vmdkHwVersion=" + vmdkHwVersion + ", vmdkToolsVersion=" + vmdkToolsVersion + ", vmdkZeroedGrain="
        + vmdkZeroedGrain + ", qedTableSize=" + qedTableSize + (encryption == null ? "" : ", encryption=" + encryption) + "]";
  }

  /** Collects the settings of a {@link CreateOptions}; starts from qemu-img's defaults. */
  public static final class Builder {
    private long size;
    private int clusterSize = 65536;
    private Compat compat = Compat.V3;
    private int refcountBits = 16;
    private boolean lazyRefcounts;
    private boolean extendedL2;
    private CompressionType compressionType = CompressionType.ZLIB;
    private Preallocation preallocation = Preallocation.OFF;
    private String dataFile;
    private boolean dataFileRaw;
    private String backingFile;
    private ImageFormat backingFormat;
    private boolean vpcFixed;
    private boolean vpcForceSize;
    private boolean vdiStatic;
    private boolean vhdxFixed;
    private long vhdxBlockSize;
    private long vhdxLogSize = 1 << 20;
    private boolean vhdxBlockStateZero = true;
    private Encryption encryption;
    private String vmdkSubformat = "monolithicSparse";
    private String vmdkAdapterType = "ide";
    private String vmdkHwVersion = "4";
    private String vmdkToolsVersion = "2147483647";
    private boolean vmdkZeroedGrain;
    private int qedTableSize = 4;

    private Builder(long size) {
      this.size = size;
    }

    /** The virtual size in bytes. */
    public Builder size(long value) {
      size = value;
      return this;
    }

    /** The cluster size in bytes. */
    public Builder clusterSize(int value) {
      clusterSize = value;
      return this;
    }

    /** The compatibility level. */
    public Builder compat(Compat value) {
      compat = value;
      return this;
    }

    /** The width of a refcount entry in bits. */
    public Builder refcountBits(int value) {
      refcountBits = value;
      return this;
    }

    /** Whether refcount updates are deferred. */
    public Builder lazyRefcounts(boolean value) {
      lazyRefcounts = value;
      return this;
    }

    /** Whether L2 entries carry subcluster bitmaps. */
    public Builder extendedL2(boolean value) {
      extendedL2 = value;
      return this;
    }

    /** How compressed clusters are compressed. */
    public Builder compressionType(CompressionType value) {
      compressionType = value;
      return this;
    }

    /** What is allocated when the image is made. */
    public Builder preallocation(Preallocation value) {
      preallocation = value;
      return this;
    }

    /** An external data file ({@code file} null for none), kept valid as a raw image when {@code raw}. */
    public Builder dataFile(String file, boolean raw) {
      dataFile = file;
      dataFileRaw = raw;
      return this;
    }

    /** A backing file ({@code file} null for none) and its format (null: probed when opened). */
    public Builder backing(String file, ImageFormat format) {
      backingFile = file;
      backingFormat = format;
      return this;
    }

    /** For a VHD (vpc) image: fixed ({@code fixed}) or dynamic, its size kept as given ({@code forceSize}) or rounded to a geometry. */
    public Builder vpc(boolean fixed, boolean forceSize) {
      vpcFixed = fixed;
      vpcForceSize = forceSize;
      return this;
    }

    /** For a VDI image: static (every block allocated when the image is made) or dynamic. */
    public Builder vdi(boolean isStatic) {
      vdiStatic = isStatic;
      return this;
    }

    /**
     * For a VHDX image: fixed ({@code fixed}) or dynamic, its block size ({@code blockSize}, 0 for
     * qemu-img's choice by disk size) and log size in bytes, and whether unwritten blocks are
     * marked as zero blocks ({@code blockStateZero}, qemu-img's default).
     */
    public Builder vhdx(boolean fixed, long blockSize, long logSize, boolean blockStateZero) {
      vhdxFixed = fixed;
      vhdxBlockSize = blockSize;
      vhdxLogSize = logSize;
      vhdxBlockStateZero = blockStateZero;
      return this;
    }

    /** The encryption of the new image, or null for none. */
    public Builder encryption(Encryption value) {
      encryption = value;
      return this;
    }

    /**
     * For a VMDK image: its subformat ("monolithicSparse", "streamOptimized"), the descriptor's
     * adapter type, virtual hardware version and tools version, and whether it uses zeroed-grain
     * entries; null keeps qemu-img's default (ide, "4", "2147483647").
     */
    public Builder vmdk(String subformat, String adapterType, String hwVersion, String toolsVersion,
        boolean zeroedGrain) {
      vmdkSubformat = subformat == null ? "monolithicSparse" : subformat;
      vmdkAdapterType = adapterType == null ? "ide" : adapterType;
      vmdkHwVersion = hwVersion == null ? "4" : hwVersion;
      vmdkToolsVersion = toolsVersion == null ? "2147483647" : toolsVersion;
      vmdkZeroedGrain = zeroedGrain;
      return this;
    }

    /**
     * For a QED image: its cluster size in bytes and the size of its L1 and L2 tables in clusters
     * (qemu-img's 65536 and 4 by default).
     */
    public Builder qed(int clusterSize, int tableSize) {
      this.clusterSize = clusterSize;
      qedTableSize = tableSize;
      return this;
    }

    /** The options; fails only on a null enum, the rest is checked when the image is created. */
    public CreateOptions build() {
      return new CreateOptions(this);
    }
  }
}
