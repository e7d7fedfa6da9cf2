import java.nio.*;
import java.util.*;
/** Throughput of zstd-jni and aircompressor's pure-Java zstd on 64 KiB clusters (compressed-cluster sizes). */
public class ZstdCodecs {
  public static void main(String[] a) throws Exception {
    int cs = 65536; int n = 2000;
    Random r = new Random(1); byte[][] clusters = new byte[64][];
    for (int i = 0; i < 64; i++) { byte[] c = new byte[cs]; for (int j = 0; j < cs; j++) c[j] = (byte) (r.nextInt(16) + (j / 4096)); clusters[i] = c; }
    byte[][] comp = new byte[64][];
    try (var ctx = new com.github.luben.zstd.ZstdCompressCtx()) { for (int i = 0; i < 64; i++) comp[i] = ctx.compress(clusters[i]); }
    for (int round = 0; round < 3; round++) {
      long t0 = System.nanoTime(); long sum = 0;
      try (var ctx = new com.github.luben.zstd.ZstdDecompressCtx()) { byte[] out = new byte[cs]; for (int i = 0; i < n; i++) { sum += ctx.decompressByteArray(out, 0, cs, comp[i % 64], 0, comp[i % 64].length); } }
      double jni = (System.nanoTime() - t0) / 1e9;
      t0 = System.nanoTime();
      var air = new io.airlift.compress.zstd.ZstdDecompressor(); byte[] out = new byte[cs];
      for (int i = 0; i < n; i++) sum += air.decompress(comp[i % 64], 0, comp[i % 64].length, out, 0, cs);
      double aj = (System.nanoTime() - t0) / 1e9;
      t0 = System.nanoTime();
      try (var ctx = new com.github.luben.zstd.ZstdCompressCtx()) { for (int i = 0; i < n / 4; i++) sum += ctx.compress(clusters[i % 64]).length; }
      double jc = (System.nanoTime() - t0) / 1e9;
      t0 = System.nanoTime();
      var ac = new io.airlift.compress.zstd.ZstdCompressor(); byte[] buf = new byte[ac.maxCompressedLength(cs)];
      for (int i = 0; i < n / 4; i++) sum += ac.compress(clusters[i % 64], 0, cs, buf, 0, buf.length);
      double acs = (System.nanoTime() - t0) / 1e9;
      System.out.printf("decompress MiB/s: zstd-jni %.0f, aircompressor %.0f | compress MiB/s: zstd-jni %.0f, aircompressor %.0f (%d)%n", n * 64 / 1024.0 / jni, n * 64 / 1024.0 / aj, n / 4 * 64 / 1024.0 / jc, n / 4 * 64 / 1024.0 / acs, sum);
    }
  }
}
