package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** The rules of QEMU 7.2's util/qemu-progress.c, on values whose output qemu-img was seen to print. */
class ProgressPrinterTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private ProgressPrinter printer(boolean enabled, float minSkip) {
    return ProgressPrinter.start(new PrintWriter(out), new PrintWriter(err), enabled, minSkip);
  }

  @Test
  void formatsAsGlibcPrintsAFloatWithTwoDecimals() {
    // the exact binary value, ties to even: qemu-img convert of 32 chunks prints 3.12, 9.38, 15.62
    assertThat(ProgressPrinter.format(3.125f)).isEqualTo("3.12");
    assertThat(ProgressPrinter.format(9.375f)).isEqualTo("9.38");
    assertThat(ProgressPrinter.format(15.625f)).isEqualTo("15.62");
    assertThat(ProgressPrinter.format(0f)).isEqualTo("0.00");
    assertThat(ProgressPrinter.format(100f)).isEqualTo("100.00");
    // 1.005f is 1.00499999523...: below the tie, as printf sees it
    assertThat(ProgressPrinter.format(1.005f)).isEqualTo("1.00");
  }

  @Test
  void printsOnlyPastTheMinimumStepOrAtZeroAndHundred() {
    ProgressPrinter progress = printer(true, 1.0f);
    progress.print(0, 100);
    progress.print(0.5f, 0);
    progress.print(1.0f, 0);
    progress.print(1.5f, 0);
    progress.print(2.25f, 0);
    progress.print(100, 0);
    progress.print(100, 0);
    progress.end();
    assertThat(out.toString()).isEqualTo(
        "    (0.00/100%)\r    (1.50/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n");
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void relativeStepsAddUpInFloatAndStopAtHundred() {
    // rebase's step for a 64 MiB image: 100 / (64 MiB / 2 MiB), 32 times, with a step of 2
    ProgressPrinter progress = printer(true, 2.0f);
    progress.print(0, 100);
    float step = 100f / (float) ((64L << 20) / (2L << 20));
    for (int i = 0; i < 33; i++) {
      progress.print(step, 100);
    }
    progress.end();
    String printed = out.toString();
    assertThat(printed).startsWith("    (0.00/100%)\r    (3.12/100%)\r    (6.25/100%)\r")
        .endsWith("    (96.88/100%)\r    (100.00/100%)\r    (100.00/100%)\r\n");
    assertThat(printed.split("\r")).hasSize(35);
  }

  @Test
  void valuesFromSeveralThreadsOnlyGrow() {
    ProgressPrinter progress = printer(true, 1.0f);
    progress.printValue(0);
    progress.printValue(ProgressPrinter.convertValue(3, 10));
    progress.printValue(ProgressPrinter.convertValue(2, 10));
    progress.printValue(ProgressPrinter.convertValue(10, 10));
    assertThat(out.toString()).isEqualTo("    (0.00/100%)\r    (30.00/100%)\r    (100.00/100%)\r");
  }

  @Test
  void withoutProgressASignalAsksForOneReportOnStderrAtTheNextPrintPoint() {
    ProgressPrinter progress = printer(false, 1.0f);
    progress.print(0, 100);
    progress.print(10, 0);
    progress.requestReport();
    progress.print(10.5f, 0);
    assertThat(err.toString()).as("not past the step yet").isEmpty();
    progress.print(11.5f, 0);
    progress.print(20, 0);
    progress.end();
    assertThat(err.toString()).isEqualTo("    (11.50/100%)\n");
    assertThat(out.toString()).isEmpty();
  }
}
