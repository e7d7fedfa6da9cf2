package io.qcow4j.disk;

/**
 * What qemu-img amend may change on an existing qcow2 image; a null field stays as it is.
 * {@code compat} is "0.10"/"v2" or "1.1"/"v3".
 */
public record AmendOptions(String compat, Boolean lazyRefcounts, Integer refcountBits, Long size) {

  /** Nothing changes. */
  public static AmendOptions none() {
    return new AmendOptions(null, null, null, null);
  }

  public AmendOptions withCompat(String value) {
    return new AmendOptions(value, lazyRefcounts, refcountBits, size);
  }

  public AmendOptions withLazyRefcounts(Boolean value) {
    return new AmendOptions(compat, value, refcountBits, size);
  }

  public AmendOptions withRefcountBits(Integer value) {
    return new AmendOptions(compat, lazyRefcounts, value, size);
  }

  public AmendOptions withSize(Long value) {
    return new AmendOptions(compat, lazyRefcounts, refcountBits, value);
  }
}
