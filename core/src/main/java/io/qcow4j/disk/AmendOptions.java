package io.qcow4j.disk;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * What qemu-img amend may change on an existing qcow2 image (or the key slots of a raw LUKS image);
 * a setting left empty stays as it is.
 * The backing file, backing format, data file and data-file-raw settings only restate what the image
 * has: a different value is refused, as qemu-img refuses it. Immutable; each {@code with} method
 * returns a copy with one setting given. Values are checked against the image when it is amended.
 */
public final class AmendOptions {
  private static final AmendOptions NONE = new AmendOptions(new Builder());

  private final Compat compat;
  private final Boolean lazyRefcounts;
  private final Integer refcountBits;
  private final Long size;
  private final String backingFile;
  private final String backingFormat;
  private final String dataFile;
  private final Boolean dataFileRaw;
  private final KeySlotAmendment keySlots;

  private AmendOptions(Builder builder) {
    this.compat = builder.compat;
    this.lazyRefcounts = builder.lazyRefcounts;
    this.refcountBits = builder.refcountBits;
    this.size = builder.size;
    this.backingFile = builder.backingFile;
    this.backingFormat = builder.backingFormat;
    this.dataFile = builder.dataFile;
    this.dataFileRaw = builder.dataFileRaw;
    this.keySlots = builder.keySlots;
  }

  /** Nothing changes. */
  public static AmendOptions none() {
    return NONE;
  }

  /** The compatibility level to convert to. */
  public Optional<Compat> compat() {
    return Optional.ofNullable(compat);
  }

  /** Whether refcount updates are to be deferred. */
  public Optional<Boolean> lazyRefcounts() {
    return Optional.ofNullable(lazyRefcounts);
  }

  /** The refcount width asked for, not yet checked (qemu-img takes any number here). */
  public OptionalInt refcountBits() {
    return refcountBits == null ? OptionalInt.empty() : OptionalInt.of(refcountBits);
  }

  /** The new virtual size; 0 means unchanged, as for qemu-img. */
  public OptionalLong size() {
    return size == null ? OptionalLong.empty() : OptionalLong.of(size);
  }

  /** The backing file name the image must already have. */
  public Optional<String> backingFile() {
    return Optional.ofNullable(backingFile);
  }

  /** The backing format the image must already record. */
  public Optional<String> backingFormat() {
    return Optional.ofNullable(backingFormat);
  }

  /** The external data file name the image must already have. */
  public Optional<String> dataFile() {
    return Optional.ofNullable(dataFile);
  }

  /** The data-file-raw flag the image must already have. */
  public Optional<Boolean> dataFileRaw() {
    return Optional.ofNullable(dataFileRaw);
  }

  /** The change of the LUKS key slots (qemu-img amend's encrypt.* options, or a raw LUKS image's). */
  public Optional<KeySlotAmendment> keySlots() {
    return Optional.ofNullable(keySlots);
  }

  /** These options changing the LUKS key slots as {@code value} says. */
  public AmendOptions withKeySlots(KeySlotAmendment value) {
    return with(builder -> builder.keySlots = Objects.requireNonNull(value, "keySlots"));
  }

  /** These options converting to the compatibility level {@code value}. */
  public AmendOptions withCompat(Compat value) {
    return with(builder -> builder.compat = Objects.requireNonNull(value, "compat"));
  }

  /** These options turning lazy refcounts on or off. */
  public AmendOptions withLazyRefcounts(boolean value) {
    return with(builder -> builder.lazyRefcounts = value);
  }

  /** These options changing the refcount width to {@code value} bits. */
  public AmendOptions withRefcountBits(int value) {
    return with(builder -> builder.refcountBits = value);
  }

  /** These options resizing the disk to {@code value} bytes (0: unchanged). */
  public AmendOptions withSize(long value) {
    return with(builder -> builder.size = value);
  }

  /** These options restating the backing file name the image has. */
  public AmendOptions withBackingFile(String value) {
    return with(builder -> builder.backingFile = Objects.requireNonNull(value, "backingFile"));
  }

  /** These options restating the backing format the image records. */
  public AmendOptions withBackingFormat(String value) {
    return with(builder -> builder.backingFormat = Objects.requireNonNull(value, "backingFormat"));
  }

  /** These options restating the external data file name the image has. */
  public AmendOptions withDataFile(String value) {
    return with(builder -> builder.dataFile = Objects.requireNonNull(value, "dataFile"));
  }

  /** These options restating the data-file-raw flag the image has. */
  public AmendOptions withDataFileRaw(boolean value) {
    return with(builder -> builder.dataFileRaw = value);
  }

  private AmendOptions with(Consumer<Builder> change) {
    Builder builder = new Builder(this);
    change.accept(builder);
    return new AmendOptions(builder);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof AmendOptions that && compat == that.compat
        && Objects.equals(lazyRefcounts, that.lazyRefcounts) && Objects.equals(refcountBits, that.refcountBits)
        && Objects.equals(size, that.size) && Objects.equals(backingFile, that.backingFile)
        && Objects.equals(backingFormat, that.backingFormat) && Objects.equals(dataFile, that.dataFile)
        && Objects.equals(dataFileRaw, that.dataFileRaw) && Objects.equals(keySlots, that.keySlots);
  }

  @Override
  public int hashCode() {
    return Objects.hash(compat, lazyRefcounts, refcountBits, size, backingFile, backingFormat, dataFile, dataFileRaw,
        keySlots);
  }

  @Override
  public String toString() {
    return "AmendOptions[compat=" + (compat == null ? null : compat.id()) + ", lazyRefcounts=" + lazyRefcounts
        + ", refcountBits=" + refcountBits + ", size=" + size + ", backingFile=" + backingFile + ", backingFormat="
        + backingFormat + ", dataFile=" + dataFile + ", dataFileRaw=" + dataFileRaw + ", keySlots=" + keySlots + "]";
  }

  /** The settings of one copy, null where not given. */
  private static final class Builder {
    private Compat compat;
    private Boolean lazyRefcounts;
    private Integer refcountBits;
    private Long size;
    private String backingFile;
    private String backingFormat;
    private String dataFile;
    private Boolean dataFileRaw;
    private KeySlotAmendment keySlots;

    private Builder() {}

    private Builder(AmendOptions options) {
      compat = options.compat;
      lazyRefcounts = options.lazyRefcounts;
      refcountBits = options.refcountBits;
      size = options.size;
      backingFile = options.backingFile;
      backingFormat = options.backingFormat;
      dataFile = options.dataFile;
      dataFileRaw = options.dataFileRaw;
      keySlots = options.keySlots;
    }
  }
}
