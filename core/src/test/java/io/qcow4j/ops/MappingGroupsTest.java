package io.qcow4j.ops;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link MappingGroups}: a group's arena stays open until its last chunk is released, then closes
 * on the closer given (the convert's workers), and the last, partial group closes at the end.
 */
class MappingGroupsTest {
  @Test
  void fullGroupsCloseOnTheCloserOnceTheirLastChunkIsReleased() {
    MappingGroups groups = new MappingGroups();
    List<Runnable> handed = new ArrayList<>();
    groups.closeOn(handed::add);
    List<MappingGroups.Group> taken = new ArrayList<>();
    for (int chunk = 0; chunk < MappingGroups.GROUP + 3; chunk++) {
      taken.add(groups.take());
    }
    MappingGroups.Group first = taken.getFirst();
    MappingGroups.Group last = taken.getLast();
    assertThat(taken.subList(0, MappingGroups.GROUP)).allMatch(group -> group == first);
    assertThat(last).isNotSameAs(first);
    // released out of order: the arena stays open until the group's last chunk
    for (int chunk = MappingGroups.GROUP - 1; chunk > 0; chunk--) {
      groups.release(taken.get(chunk));
    }
    assertThat(handed).isEmpty();
    assertThat(first.arena().scope().isAlive()).isTrue();
    groups.release(first);
    assertThat(handed).hasSize(1).allMatch(task -> task instanceof MappingGroups.Closing);
    assertThat(first.arena().scope().isAlive()).as("closed by the closer, not by the releasing thread").isTrue();
    handed.getFirst().run();
    assertThat(first.arena().scope().isAlive()).isFalse();
    // the partial group: open while chunks can still join it, closed at the end
    for (int chunk = MappingGroups.GROUP; chunk < taken.size(); chunk++) {
      groups.release(taken.get(chunk));
    }
    assertThat(handed).hasSize(1);
    groups.close();
    assertThat(last.arena().scope().isAlive()).isFalse();
  }
}
