package io.qcow4j.cli;

import io.qcow4j.disk.ImageLockedException;
import io.qcow4j.disk.ProbedRawWriteException;
import io.qcow4j.disk.RefcountOverflowException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Optional;

/** Turns exceptions into the one-line reasons qemu's tools print ("No such file or directory"). */
final class Failures {
  private Failures() {}

  /** The reason an operation on {@code name} failed, without repeating the name in front. */
  static String reason(Throwable failure, String name) {
    String reason = switch (failure) {
      case NoSuchFileException e -> "No such file or directory";
      case AccessDeniedException e -> "Permission denied";
      case FileAlreadyExistsException e -> "File exists";
      case NotDirectoryException e -> "Not a directory";
      case FileSystemException e when e.getReason() != null -> e.getReason();
      case EOFException e when e.getMessage() == null -> "Unexpected end of file";
      case ProbedRawWriteException e -> "Operation not permitted";
      // QEMU's update_refcount refuses an increase past the refcount width with EINVAL
      case RefcountOverflowException e -> "Invalid argument";
      // a limit's hint goes on a line of its own (hint)
      case io.qcow4j.disk.ImageLimitException e when e.getMessage() != null && e.getMessage().contains("\n") ->
          e.getMessage().substring(0, e.getMessage().indexOf('\n'));
      default -> failure.getMessage() != null ? failure.getMessage() : failure.getClass().getSimpleName();
    };
    if (name != null && reason.startsWith(name + ": ")) {
      reason = reason.substring(name.length() + 2);
    }
    return oneLine(reason);
  }

  /**
   * Why a read or write request failed, as strerror names the errno QEMU's block layer returns: a
   * corrupt image is EIO ("Input/output error"), whatever qcow4j found, and the corruption that
   * marked it is announced first on {@code err}, as qcow2_signal_corruption does; a request QEMU
   * refuses has its errno's text; anything else as qcow4j says it.
   */
  static String requestReason(Throwable failure, String name, java.io.PrintWriter err) {
    if (failure instanceof io.qcow4j.disk.CorruptImageException corrupt) {
      announceCorruption(corrupt, err);
      return "Input/output error";
    }
    return reason(failure, name);
  }

  /** "Could not open 'name': reason", qemu-img's message for a failed open. */
  static CommandFailure couldNotOpen(String name, IOException failure) {
    String reason = reason(failure, name);
    if ((failure instanceof NoSuchFileException || failure instanceof AccessDeniedException)
        && (name.equals(((FileSystemException) failure).getFile())
            || ((FileSystemException) failure).getFile() != null && ((FileSystemException) failure).getReason() == null)) {
      // QEMU's file driver names the file it could not open (the image, or its data file), then
      // qemu-img names the image
      reason = "Could not open '" + ((FileSystemException) failure).getFile() + "': " + reason;
    }
    return new CommandFailure("Could not open '" + name + "': " + reason, 1, failure);
  }

  /**
   * The line QEMU's tools print under some errors: "Is another process using the image [x]?" under
   * a lock conflict.
   */
  static Optional<String> hint(Throwable failure) {
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (cause instanceof ImageLockedException locked) {
        return Optional.of(locked.hint());
      }
      if (cause instanceof io.qcow4j.nbd.NbdOptionException option && option.hint() != null) {
        return Optional.of(option.hint());
      }
      if (cause instanceof io.qcow4j.disk.BitmapException bitmap && bitmap.hint() != null) {
        return Optional.of(bitmap.hint());
      }
      if (cause instanceof io.qcow4j.disk.ImageLimitException limit && limit.getMessage() != null
          && limit.getMessage().contains("\n")) {
        // the snapshot table's limits: QEMU's hint (check -r all) on the line under the message
        return Optional.of(limit.getMessage().substring(limit.getMessage().indexOf('\n') + 1));
      }
    }
    return Optional.empty();
  }

  /**
   * Prints QEMU's line for a corruption that marked the image corrupt ("qcow2: Marking image as
   * corrupt: ...; further corruption events will be suppressed"), or the first found in a
   * read-only image ("qcow2: Image is corrupt: ...; further non-fatal corruption events will be
   * suppressed"); nothing for the others.
   */
  static void announceCorruption(io.qcow4j.disk.CorruptImageException failure, java.io.PrintWriter err) {
    if (failure.markedCorrupt()) {
      err.println("qcow2: Marking image as corrupt: " + oneLine(failure.event())
          + "; further corruption events will be suppressed");
      err.flush();
    } else if (failure.reportedNonFatal()) {
      err.println("qcow2: Image is corrupt: " + oneLine(failure.event())
          + "; further non-fatal corruption events will be suppressed");
      err.flush();
    }
  }

  /**
   * Announces the corruption that caused {@code failure}, if any, as {@link #announceCorruption}:
   * qemu-img's commands print qcow2_signal_corruption's line before their own error.
   */
  static void announceCorruptionIn(Throwable failure, java.io.PrintWriter err) {
    for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
      if (cause instanceof io.qcow4j.disk.CorruptImageException corrupt) {
        announceCorruption(corrupt, err);
        return;
      }
    }
  }

  static String oneLine(String text) {
    return text.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
  }
}
