package io.qcow4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Getopt against glibc 2.36's getopt_long: each expected transcript is what a C program calling
 * getopt_long (getopt where the table is "-") printed for the same option string, long option
 * table ("name:has_arg:val,...") and argv: every return value with optarg, optind, optopt and
 * argv[optind - 1], glibc's messages in between, and the permuted argv at the end.
 */
class GetoptTest {

  @Test
  void permutesOperandsBehindOptionsAndStopsAtDoubleDash() {
    assertThat(transcript("hf:O:o::", "help:0:104,format:1:102,force-share:0:85,output:1:256,object:1:257", "prog", "a", "-f", "qcow2", "b", "-fraw", "--", "-c", "d")).isEqualTo("""
        c=102 optarg=qcow2 optind=4 optopt=0 last=qcow2
        c=102 optarg=raw optind=6 optopt=0 last=-fraw
        end optind=5 argv=[prog][-f][qcow2][-fraw][--][a][b][-c][d]
        """);
  }

  @Test
  void printsGlibcMessagesWithTheProgramName() {
    assertThat(transcript("hf:O:o::", "help:0:104,format:1:102,force-share:0:85,output:1:256,object:1:257", "prog", "-x", "a", "-hx", "-ofoo", "-o", "bar", "--bogus", "--bogus=1", "--help=2", "--output")).isEqualTo("""
        prog: invalid option -- 'x'
        c=63 optarg=(null) optind=2 optopt=120 last=-x
        c=104 optarg=(null) optind=3 optopt=120 last=a
        prog: invalid option -- 'x'
        c=63 optarg=(null) optind=4 optopt=120 last=-hx
        c=111 optarg=foo optind=5 optopt=120 last=-ofoo
        c=111 optarg=(null) optind=6 optopt=120 last=-o
        prog: unrecognized option '--bogus'
        c=63 optarg=(null) optind=8 optopt=0 last=--bogus
        prog: unrecognized option '--bogus=1'
        c=63 optarg=(null) optind=9 optopt=0 last=--bogus=1
        prog: option '--help' doesn't allow an argument
        c=63 optarg=(null) optind=10 optopt=104 last=--help=2
        prog: option '--output' requires an argument
        c=63 optarg=(null) optind=11 optopt=256 last=--output
        end optind=9 argv=[prog][-x][-hx][-ofoo][-o][--bogus][--bogus=1][--help=2][--output][a][bar]
        """);
  }

  @Test
  void colonPrefixSilencesAndReturnsColonForMissingArgument() {
    assertThat(transcript(":hf:O:o::", "help:0:104,format:1:102,force-share:0:85,output:1:256,object:1:257", "prog", "-x", "a", "-hx", "-ofoo", "-o", "bar", "--bogus", "--bogus=1", "--help=2", "--output")).isEqualTo("""
        c=63 optarg=(null) optind=2 optopt=120 last=-x
        c=104 optarg=(null) optind=3 optopt=120 last=a
        c=63 optarg=(null) optind=4 optopt=120 last=-hx
        c=111 optarg=foo optind=5 optopt=120 last=-ofoo
        c=111 optarg=(null) optind=6 optopt=120 last=-o
        c=63 optarg=(null) optind=8 optopt=0 last=--bogus
        c=63 optarg=(null) optind=9 optopt=0 last=--bogus=1
        c=63 optarg=(null) optind=10 optopt=104 last=--help=2
        c=58 optarg=(null) optind=11 optopt=256 last=--output
        end optind=9 argv=[prog][-x][-hx][-ofoo][-o][--bogus][--bogus=1][--help=2][--output][a][bar]
        """);
  }

  @Test
  void missingArgumentAtTheEndIsReported() {
    assertThat(transcript(":hf:O:o::", "help:0:104,format:1:102,force-share:0:85,output:1:256,object:1:257", "prog", "a", "b", "-f")).isEqualTo("""
        c=58 optarg=(null) optind=4 optopt=102 last=-f
        end optind=2 argv=[prog][-f][a][b]
        """);
  }

  @Test
  void unknownLetterInsideAClusterLeavesOptindOnThePreviousWord() {
    assertThat(transcript(":hf:O:o::", "help:0:104,format:1:102,force-share:0:85,output:1:256,object:1:257", "prog", "a", "-xU", "b")).isEqualTo("""
        c=63 optarg=(null) optind=2 optopt=120 last=a
        c=63 optarg=(null) optind=3 optopt=85 last=-xU
        end optind=2 argv=[prog][-xU][a][b]
        """);
  }

  @Test
  void plainGetoptReadsDoubleDashWordsAsShortOptions() {
    assertThat(transcript("bCl:pP:qs:vE", "-", "read", "-P", "3", "0", "--x", "4k", "--", "-1")).isEqualTo("""
        c=80 optarg=3 optind=3 optopt=0 last=3
        read: invalid option -- '-'
        c=63 optarg=(null) optind=4 optopt=45 last=0
        read: invalid option -- 'x'
        c=63 optarg=(null) optind=5 optopt=120 last=--x
        end optind=5 argv=[read][-P][3][--x][--][0][4k][-1]
        """);
  }

  @Test
  void ambiguousPrefixListsOnlyOptionsThatActDifferently() {
    assertThat(transcript("hf:", "format:1:102,force-share:0:85,fox:1:102", "prog", "--f", "x", "--fo=1", "--format")).isEqualTo("""
        prog: option '--f' is ambiguous; possibilities: '--format' '--force-share'
        c=63 optarg=(null) optind=2 optopt=0 last=--f
        prog: option '--fo=1' is ambiguous; possibilities: '--format' '--force-share'
        c=63 optarg=(null) optind=4 optopt=0 last=--fo=1
        prog: option '--format' requires an argument
        c=63 optarg=(null) optind=5 optopt=102 last=--format
        end optind=4 argv=[prog][--f][--fo=1][--format][x]
        """);
  }

  @Test
  void equalsSignValuesAndFlagsThatRefuseThem() {
    assertThat(transcript(":hf:", "format:1:102,force-share:0:85", "prog", "--format=a=b", "--force-share=1", "--", "--f")).isEqualTo("""
        c=102 optarg=a=b optind=2 optopt=0 last=--format=a=b
        c=63 optarg=(null) optind=3 optopt=85 last=--force-share=1
        end optind=4 argv=[prog][--format=a=b][--force-share=1][--][--f]
        """);
  }

  @Test
  void plusPrefixStopsAtTheFirstOperand() {
    assertThat(transcript("+hf:", "format:1:102", "prog", "-f", "x", "y", "-f", "z")).isEqualTo("""
        c=102 optarg=x optind=3 optopt=0 last=x
        end optind=3 argv=[prog][-f][x][y][-f][z]
        """);
  }

  @Test
  void optionalArgumentsOnlyWhenAttached() {
    assertThat(transcript("hf::", "-", "prog", "-f", "-fx", "--f", "--", "-f")).isEqualTo("""
        c=102 optarg=(null) optind=2 optopt=0 last=-f
        c=102 optarg=x optind=3 optopt=0 last=-fx
        prog: invalid option -- '-'
        c=63 optarg=(null) optind=3 optopt=45 last=-fx
        c=102 optarg=(null) optind=4 optopt=45 last=--f
        end optind=5 argv=[prog][-f][-fx][--f][--][-f]
        """);
  }

  @Test
  void optionalArgumentsInColonModeWithPermutation() {
    assertThat(transcript(":hf::", "-", "prog", "a", "-hfx", "-f", "--f", "b", "-x")).isEqualTo("""
        c=104 optarg=(null) optind=2 optopt=0 last=a
        c=102 optarg=x optind=3 optopt=0 last=-hfx
        c=102 optarg=(null) optind=4 optopt=0 last=-f
        c=63 optarg=(null) optind=4 optopt=45 last=a
        c=102 optarg=(null) optind=5 optopt=45 last=--f
        c=63 optarg=(null) optind=7 optopt=120 last=-x
        end optind=5 argv=[prog][-hfx][-f][--f][-x][a][b]
        """);
  }

  @Test
  void qemuIoWordsReportTheOffendingLetter() {
    Getopt getopt = Getopt.ofWords("read", List.of("-x", "0", "-P"), "P:");
    assertThat(getopt.nextOption()).isEqualTo(new Getopt.Option('?', "x"));
    assertThat(getopt.nextOption()).isEqualTo(new Getopt.Option(':', "P"));
    assertThat(getopt.nextOption()).isNull();
    assertThat(getopt.operands()).containsExactly("0");
  }

  /** Runs getopt over argv as the C program did and returns what it printed. */
  private static String transcript(String optionString, String table, String... argv) {
    StringWriter text = new StringWriter();
    PrintWriter out = new PrintWriter(text, true);
    List<Getopt.LongOption> longOptions = null;
    if (!table.equals("-")) {
      longOptions = new ArrayList<>();
      for (String entry : table.split(",")) {
        String[] fields = entry.split(":");
        longOptions.add(new Getopt.LongOption(fields[0], Getopt.HasArgument.values()[Integer.parseInt(fields[1])],
            Integer.parseInt(fields[2])));
      }
    }
    Getopt getopt = new Getopt(argv, optionString, longOptions, out);
    for (int value = getopt.next(); value != Getopt.END; value = getopt.next()) {
      out.println("c=" + value + " optarg=" + (getopt.optarg() == null ? "(null)" : getopt.optarg()) + " optind="
          + getopt.optind() + " optopt=" + getopt.optopt() + " last=" + getopt.lastWord());
    }
    StringBuilder words = new StringBuilder();
    for (int i = 0; i < argv.length; i++) {
      words.append('[').append(getopt.word(i)).append(']');
    }
    out.println("end optind=" + getopt.optind() + " argv=" + words);
    assertThat(getopt.operands()).containsExactly(operandsOf(getopt, argv.length));
    return text.toString();
  }

  private static String[] operandsOf(Getopt getopt, int argc) {
    String[] operands = new String[argc - getopt.optind()];
    for (int i = getopt.optind(); i < argc; i++) {
      operands[i - getopt.optind()] = getopt.word(i);
    }
    return operands;
  }
}
