package io.qcow4j.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * GNU getopt over a command's words, as qemu-io's commands parse their options: clustered letters,
 * arguments attached or in the next word, options and operands in any order, "--" ends options.
 */
final class Getopt {
  /** Returned as the letter of an option that lacks its argument ({@link Option#argument()} names it). */
  static final char MISSING_ARGUMENT = ':';
  /** Returned as the letter of an unknown option ({@link Option#argument()} names it). */
  static final char UNKNOWN = '?';

  /** One option: its letter and argument (or, for errors, the offending letter). */
  record Option(char letter, String argument) {}

  private final String spec;
  private final List<String> words;
  private final List<String> operands = new ArrayList<>();
  private int wordIndex;
  private int letterIndex;
  private boolean optionsEnded;

  Getopt(String command, List<String> words, String spec) {
    this.spec = spec;
    this.words = words;
  }

  /** The next option, or null when every word has been read. */
  Option next() {
    while (true) {
      if (letterIndex == 0) {
        if (wordIndex >= words.size()) {
          return null;
        }
        String word = words.get(wordIndex);
        if (optionsEnded || !word.startsWith("-") || word.length() == 1) {
          operands.add(word);
          wordIndex++;
          continue;
        }
        if (word.equals("--")) {
          optionsEnded = true;
          wordIndex++;
          continue;
        }
        letterIndex = 1;
      }
      String word = words.get(wordIndex);
      char letter = word.charAt(letterIndex++);
      int at = spec.indexOf(letter);
      boolean takesArgument = at >= 0 && at + 1 < spec.length() && spec.charAt(at + 1) == ':';
      if (at < 0 || letter == ':') {
        advanceIfWordDone(word);
        return new Option(UNKNOWN, String.valueOf(letter));
      }
      if (!takesArgument) {
        advanceIfWordDone(word);
        return new Option(letter, null);
      }
      String argument;
      if (letterIndex < word.length()) {
        argument = word.substring(letterIndex);
        wordIndex++;
      } else if (wordIndex + 1 < words.size()) {
        argument = words.get(wordIndex + 1);
        wordIndex += 2;
      } else {
        wordIndex++;
        letterIndex = 0;
        return new Option(MISSING_ARGUMENT, String.valueOf(letter));
      }
      letterIndex = 0;
      return new Option(letter, argument);
    }
  }

  /** The words that are not options, in order (complete once {@link #next()} returned null). */
  List<String> operands() {
    return operands;
  }

  private void advanceIfWordDone(String word) {
    if (letterIndex >= word.length()) {
      wordIndex++;
      letterIndex = 0;
    }
  }
}
