package io.qcow4j.vmdk;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.Deflater;

/**
 * VMDKs qemu-img cannot make, built from VMware's "Virtual Disk Format 5.0" specification: ESXi
 * descriptors (vmfs with a VMFS extent, vmfsSparse with a COWD delta extent, several FLAT
 * extents with offsets), and a streamOptimized extent as VMware writes it (grain directory at the
 * end, found through the footer). Every image holds {@code grains}: guest grain index to content.
 */
final class VmdkFixtures {
  static final int SECTOR = 512;

  private VmdkFixtures() {}

  /** An ESXi descriptor (section 4 of the specification, as ESXi 6.x writes one). */
  static String esxiDescriptor(String createType, String cid, String parentCid, String parentHint,
      String... extentLines) {
    StringBuilder text = new StringBuilder();
    text.append("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n");
    text.append("CID=").append(cid).append('\n');
    text.append("parentCID=").append(parentCid).append('\n');
    text.append("isNativeSnapshot=\"no\"\n");
    text.append("createType=\"").append(createType).append("\"\n");
    if (parentHint != null) {
      text.append("parentFileNameHint=\"").append(parentHint).append("\"\n");
    }
    text.append("\n# Extent description\n");
    for (String line : extentLines) {
      text.append(line).append('\n');
    }
    text.append("\n# The Disk Data Base\n#DDB\n\n");
    text.append("ddb.adapterType = \"lsilogic\"\n");
    text.append("ddb.geometry.cylinders = \"8\"\nddb.geometry.heads = \"64\"\nddb.geometry.sectors = \"32\"\n");
    text.append("ddb.longContentID = \"0f1e2d3c4b5a69788796a5b4fffffffe\"\n");
    text.append("ddb.uuid = \"60 00 C2 9a 1b 2c 3d 4e-5f 60 71 82 93 a4 b5 c6\"\n");
    text.append("ddb.virtualHWVersion = \"13\"\n");
    return text.toString();
  }

  /** Writes a text file. */
  static Path text(Path file, String text) throws IOException {
    return Files.writeString(file, text, StandardCharsets.UTF_8);
  }

  /**
   * A COWD (vmfsSparse) extent of {@code sectors} with {@code grainSectors}-sector grains: the
   * 2048-byte COWDisk_Header, the grain directory at sector 4, then the grain tables (4096 entries
   * each) of the tables that map a grain, then the grains in guest order.
   */
  static byte[] cowd(long sectors, int grainSectors, Map<Integer, byte[]> grains) {
    int gtes = 4096;
    long grainsPerTable = gtes;
    int gdEntries = (int) ((sectors + grainSectors * grainsPerTable - 1) / (grainSectors * grainsPerTable));
    int gdSectors = Math.max(1, (gdEntries * 4 + SECTOR - 1) / SECTOR);
    TreeMap<Integer, byte[]> sorted = new TreeMap<>(grains);
    TreeMap<Integer, Integer> tables = new TreeMap<>();
    int nextSector = 4 + gdSectors;
    for (int grain : sorted.keySet()) {
      int table = (int) (grain / grainsPerTable);
      if (!tables.containsKey(table)) {
        tables.put(table, nextSector);
        nextSector += gtes * 4 / SECTOR;
      }
    }
    ByteBuffer file = ByteBuffer.allocate((nextSector + sorted.size() * grainSectors) * SECTOR)
        .order(ByteOrder.LITTLE_ENDIAN);
    file.put(0, "COWD".getBytes(StandardCharsets.US_ASCII));
    file.putInt(4, 1);
    file.putInt(8, 3);
    file.putInt(12, (int) sectors);
    file.putInt(16, grainSectors);
    file.putInt(20, 4);
    file.putInt(24, gdEntries);
    file.putInt(28, nextSector + sorted.size() * grainSectors);
    for (Map.Entry<Integer, Integer> table : tables.entrySet()) {
      file.putInt(4 * SECTOR + table.getKey() * 4, table.getValue());
    }
    for (Map.Entry<Integer, byte[]> grain : sorted.entrySet()) {
      int table = (int) (grain.getKey() / grainsPerTable);
      int entry = (int) (grain.getKey() % grainsPerTable);
      file.putInt(tables.get(table) * SECTOR + entry * 4, nextSector);
      file.put(nextSector * SECTOR, grain.getValue());
      nextSector += grainSectors;
    }
    return file.array();
  }

  /**
   * A streamOptimized extent as VMware writes one: header with gdOffset GD_AT_END, the embedded
   * descriptor, each grain behind a grain marker (LBA, size, deflate data), a grain table marker and
   * table per table, the grain directory marker and directory, the footer marker and footer (the
   * header again, with the directory's offset), and the end-of-stream marker.
   */
  static byte[] streamOptimized(long sectors, Map<Integer, byte[]> grains, String descriptor) throws IOException {
    int grainSectors = 128;
    int gtes = 512;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] descriptorBytes = descriptor.getBytes(StandardCharsets.UTF_8);
    int descriptorSectors = (descriptorBytes.length + SECTOR - 1) / SECTOR;
    long gdEntries = (sectors + (long) grainSectors * gtes - 1) / ((long) grainSectors * gtes);
    out.write(new byte[SECTOR]);
    out.write(Arrays.copyOf(descriptorBytes, descriptorSectors * SECTOR));
    long overhead = 1 + descriptorSectors;
    int[][] tables = new int[(int) gdEntries][];
    for (Map.Entry<Integer, byte[]> grain : new TreeMap<>(grains).entrySet()) {
      int sector = out.size() / SECTOR;
      Deflater deflater = new Deflater();
      deflater.setInput(grain.getValue());
      deflater.finish();
      byte[] compressed = new byte[grain.getValue().length * 2 + 64];
      int length = deflater.deflate(compressed);
      deflater.end();
      ByteBuffer marker = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
      marker.putLong((long) grain.getKey() * grainSectors).putInt(length);
      out.write(marker.array());
      out.write(compressed, 0, length);
      pad(out);
      int table = grain.getKey() / gtes;
      if (tables[table] == null) {
        tables[table] = new int[gtes];
      }
      tables[table][grain.getKey() % gtes] = sector;
    }
    int[] directory = new int[(int) gdEntries];
    for (int table = 0; table < tables.length; table++) {
      if (tables[table] != null) {
        out.write(metadataMarker(gtes * 4 / SECTOR, 1));
        directory[table] = out.size() / SECTOR;
        out.write(ints(tables[table]));
      }
    }
    out.write(metadataMarker((directory.length * 4 + SECTOR - 1) / SECTOR, 2));
    long gdOffset = out.size() / SECTOR;
    out.write(ints(directory));
    pad(out);
    out.write(metadataMarker(1, 3));
    out.write(header(sectors, grainSectors, gtes, descriptorSectors, gdOffset, overhead));
    out.write(metadataMarker(0, 0));
    byte[] image = out.toByteArray();
    System.arraycopy(header(sectors, grainSectors, gtes, descriptorSectors, -1, overhead), 0, image, 0, SECTOR);
    return image;
  }

  /** The sparse extent header of a streamOptimized extent (version 3, markers, deflate). */
  static byte[] header(long sectors, int grainSectors, int gtes, int descriptorSectors, long gdOffset, long overhead) {
    ByteBuffer header = ByteBuffer.allocate(SECTOR).order(ByteOrder.LITTLE_ENDIAN);
    header.put(0, "KDMV".getBytes(StandardCharsets.US_ASCII));
    header.putInt(4, 3);
    header.putInt(8, 0x30001);
    header.putLong(12, sectors);
    header.putLong(20, grainSectors);
    header.putLong(28, 1);
    header.putLong(36, descriptorSectors);
    header.putInt(44, gtes);
    header.putLong(48, 0);
    header.putLong(56, gdOffset);
    header.putLong(64, overhead);
    header.put(73, (byte) '\n').put(74, (byte) ' ').put(75, (byte) '\r').put(76, (byte) '\n');
    header.putShort(77, (short) 1);
    return header.array();
  }

  private static byte[] metadataMarker(long sectors, int type) {
    ByteBuffer marker = ByteBuffer.allocate(SECTOR).order(ByteOrder.LITTLE_ENDIAN);
    marker.putLong(0, sectors).putInt(8, 0).putInt(12, type);
    return marker.array();
  }

  private static byte[] ints(int[] values) {
    ByteBuffer bytes = ByteBuffer.allocate(((values.length * 4 + SECTOR - 1) / SECTOR) * SECTOR)
        .order(ByteOrder.LITTLE_ENDIAN);
    for (int value : values) {
      bytes.putInt(value);
    }
    return bytes.array();
  }

  private static void pad(ByteArrayOutputStream out) {
    int rest = out.size() % SECTOR;
    if (rest != 0) {
      out.write(new byte[SECTOR - rest], 0, SECTOR - rest);
    }
  }

  /** {@code count} bytes of a pattern derived from {@code seed}, compressible but not constant. */
  static byte[] pattern(int seed, int count) {
    byte[] bytes = new byte[count];
    for (int i = 0; i < count; i++) {
      bytes[i] = (byte) (seed * 31 + i / 7 + (i % 13 == 0 ? seed : 0));
    }
    return bytes;
  }

  /** The guest bytes of a disk of {@code size} bytes holding {@code grains} of {@code grainBytes}. */
  static byte[] guest(long size, int grainBytes, Map<Integer, byte[]> grains) {
    byte[] bytes = new byte[(int) size];
    for (Map.Entry<Integer, byte[]> grain : grains.entrySet()) {
      int start = grain.getKey() * grainBytes;
      System.arraycopy(grain.getValue(), 0, bytes, start, Math.min(grainBytes, bytes.length - start));
    }
    return bytes;
  }
}
