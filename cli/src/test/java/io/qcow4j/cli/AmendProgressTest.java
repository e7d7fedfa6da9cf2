package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * amend -p side by side with qemu-img (iotests 061 and 112): every report qcow2_amend_options
 * makes, through qcow2_amend_helper_cb's projection over the operations (upgrade, refcount width
 * change, downgrade), the refcount change's walks over the refcount table (a fourth walk when the
 * new structures need one more allocation round: the progress steps back from 66.67 to 50.00),
 * and the downgrade's one report per L1 entry of the active table and of each snapshot.
 */
class AmendProgressTest {
  @ParameterizedTest(name = "{0} {1}, then amend -o {3}")
  @CsvSource(delimiter = ';', value = {
      "compat=1.1; 64M; write 0 1M; refcount_bits=64; false",
      "compat=1.1,cluster_size=4096,refcount_bits=64; 64M; write 0 8M; refcount_bits=1; false",
      "compat=1.1,refcount_bits=1,cluster_size=512; 64k; write 0 29696; refcount_bits=64; false",
      "compat=1.1,cluster_size=512; 1M; write 0 512k; refcount_bits=2; false",
      "compat=0.10; 64M; write 0 1M; compat=1.1; false",
      "compat=0.10; 64M; write 0 1M; compat=1.1,refcount_bits=4; false",
      "compat=1.1; 4G; write -z 0 1M; compat=0.10; true",
      "compat=1.1,refcount_bits=8; 4G; write -z 0 1M; compat=0.10,refcount_bits=16; true",
  })
  void reportsAsQemuImg(String createOptions, String size, String write, String amendOptions, boolean snapshot) {
    SideBySide runs = new SideBySide();
    runs.run("qemu-img", "create", "-f", "qcow2", "-o", createOptions, "@/t.qcow2", size).same();
    runs.run("qemu-io", "-c", write, "@/t.qcow2").same();
    if (snapshot) {
      runs.run("qemu-img", "snapshot", "-c", "s1", "@/t.qcow2").same();
    }
    SideBySide.Runs amend = runs.run("qemu-img", "amend", "-p", "-o", amendOptions, "@/t.qcow2").same();
    assertThat(amend.ours().out()).contains("(100.00/100%)");
    // both clean (where the engines place clusters is not this test's business)
    SideBySide.Runs check = runs.run("qemu-img", "check", "@/t.qcow2");
    assertThat(check.ours().exitCode()).isZero().isEqualTo(check.theirs().exitCode());
    assertThat(check.ours().out()).contains("No errors were found on the image.");
  }
}
