package io.qcow4j.interop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.qcow4j.interop.QemuComparison.Range;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The map comparison splits both sides at each other's boundaries and reports only real disagreements. */
class QemuComparisonTest {
  @Test
  void differentMergingOfTheSameClassificationAgrees() {
    List<Range> ours = List.of(new Range(0, 100, true, false), new Range(100, 300, true, false),
        new Range(300, 1000, false, true));
    List<Range> theirs = List.of(new Range(0, 300, true, false), new Range(300, 700, false, true),
        new Range(700, 1000, false, true));
    assertThat(QemuComparison.differences(ours, theirs)).isEmpty();
  }

  @Test
  void reportsEachDisagreeingRangeOnce() {
    List<Range> ours = List.of(new Range(0, 100, true, false), new Range(100, 200, true, false),
        new Range(200, 1000, false, true));
    List<Range> theirs = List.of(new Range(0, 50, true, false), new Range(50, 250, true, true),
        new Range(250, 1000, false, true));
    assertThat(QemuComparison.differences(ours, theirs)).containsExactly(
        "[50, 200) = [0x32, 0xc8): data=true zero=false vs data=true zero=true",
        "[200, 250) = [0xc8, 0xfa): data=false zero=true vs data=true zero=true");
  }

  @Test
  void reportsDifferentEnds() {
    assertThat(QemuComparison.differences(List.of(new Range(0, 10, true, false)), List.of(new Range(0, 20, true, false))))
        .containsExactly("ours end at 10, qemu's at 20");
  }

  @Test
  void refusesGaps() {
    assertThatThrownBy(() -> QemuComparison.differences(
        List.of(new Range(0, 10, true, false), new Range(20, 30, true, false)), List.of(new Range(0, 30, true, false))))
        .isInstanceOf(AssertionError.class);
  }
}
