package io.qcow4j.spec;

import io.qcow4j.internal.spec.QemuJson;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The secrets the --object arguments define ("secret,id=ID,data=TEXT" or "file=PATH", with
 * format=raw|base64, and keyid=ID,iv=IV for data encrypted with AES-256-CBC under another
 * secret), by id, for image opening to look up (encrypt.key-secret). Definitions are read as
 * QEMU reads them (keyval syntax, or a JSON object when the argument starts with '{') and fail
 * with its messages; object types other than secret are refused naming the type. Immutable:
 * {@link #define(String)} returns a new store.
 */
public final class Secrets {
  /** QEMU 7.2's ObjectType names: a type outside them is not a type at all. */
  private static final Set<String> OBJECT_TYPES = Set.of("authz-list", "authz-listfile", "authz-pam",
      "authz-simple", "can-bus", "can-host-socketcan", "colo-compare", "cryptodev-backend",
      "cryptodev-backend-builtin", "cryptodev-backend-lkcf", "cryptodev-vhost-user", "dbus-vmstate",
      "filter-buffer", "filter-dump", "filter-mirror", "filter-redirector", "filter-replay", "filter-rewriter",
      "input-barrier", "input-linux", "iothread", "main-loop", "memory-backend-epc", "memory-backend-file",
      "memory-backend-memfd", "memory-backend-ram", "pef-guest", "pr-manager-helper", "qtest", "rng-builtin",
      "rng-egd", "rng-random", "secret", "secret_keyring", "sev-guest", "thread-context", "s390-pv-guest",
      "throttle-group", "tls-creds-anon", "tls-creds-psk", "tls-creds-x509", "tls-cipher-suites",
      "x-remote-object", "x-vfio-user-server");
  /** The types qemu-img, qemu-io and qemu-nbd can create: known to them, not supported here. */
  private static final Set<String> TOOL_TYPES = Set.of("authz-list", "authz-listfile", "authz-simple",
      "authz-pam", "iothread", "main-loop", "pr-manager-helper", "secret_keyring", "thread-context",
      "throttle-group", "tls-cipher-suites", "tls-creds-anon", "tls-creds-psk", "tls-creds-x509");
  private static final List<String> SECRET_MEMBERS = List.of("qom-type", "id", "loaded", "format", "keyid", "iv",
      "data", "file");
  private static final String BASE64_ALPHABET =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  private static final Secrets NONE = new Secrets(Map.of());

  private final Map<String, byte[]> secrets;

  private Secrets(Map<String, byte[]> secrets) {
    this.secrets = secrets;
  }

  /** No secrets. */
  public static Secrets none() {
    return NONE;
  }

  /**
   * The help an --object argument asks for ("help" lists the object types, "secret,help" the
   * options of a secret), or null when it defines an object.
   */
  public static String help(String definition) throws ObjectDefinitionException {
    if (definition.startsWith("{")) {
      return null;
    }
    Keyval.Parsed parsed = Keyval.parse(definition, "qom-type");
    if (!parsed.help()) {
      return null;
    }
    Object type = parsed.values().get("qom-type");
    if (type == null || "help".equals(type)) {
      return "List of user creatable objects:\n  secret\n";
    }
    if ("secret".equals(type)) {
      return "secret options:\n  data=<string>\n  file=<string>\n  format=<QCryptoSecretFormat>\n  iv=<string>\n"
          + "  keyid=<string>\n";
    }
    throw refusedType(String.valueOf(type));
  }

  /** These secrets and the one {@code definition} (an --object argument) defines. */
  public Secrets define(String definition) throws ObjectDefinitionException {
    Map<String, Object> members = members(definition);
    Object type = members.get("qom-type");
    if (type == null) {
      throw new ObjectDefinitionException("Parameter 'qom-type' is missing");
    }
    if (!(type instanceof String typeName) || !OBJECT_TYPES.contains(typeName)) {
      throw new ObjectDefinitionException("Parameter 'qom-type' does not accept value '" + type + "'");
    }
    if (!members.containsKey("id")) {
      throw new ObjectDefinitionException("Parameter 'id' is missing");
    }
    if (!typeName.equals("secret")) {
      throw refusedType(typeName);
    }
    String format = string(members, "format");
    if (format != null && !format.equals("raw") && !format.equals("base64")) {
      throw new ObjectDefinitionException("Parameter 'format' does not accept value '" + format + "'");
    }
    for (String key : members.keySet()) {
      if (!SECRET_MEMBERS.contains(key)) {
        throw new ObjectDefinitionException("Parameter '" + key + "' is unexpected");
      }
    }
    String id = string(members, "id");
    if (!ImageSpec.isIdentifier(id)) {
      throw new ObjectDefinitionException("Parameter 'id' expects an identifier\n"
          + "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
    }
    if (secrets.containsKey(id)) {
      throw new ObjectDefinitionException("attempt to add duplicate property '" + id
          + "' to object (type 'container')");
    }
    if (members.containsKey("loaded")) {
      throw new ObjectDefinitionException("Property 'secret.loaded' is not writable");
    }
    byte[] value = load(members, "base64".equals(format));
    Map<String, byte[]> more = new LinkedHashMap<>(secrets);
    more.put(id, value);
    return new Secrets(more);
  }

  /** The bytes of the secret {@code id}, or QEMU's "No secret with id" failure. */
  public byte[] bytes(String id) throws ImageSpecException {
    byte[] value = secrets.get(id);
    if (value == null) {
      throw new ImageSpecException("No secret with id '" + id + "'");
    }
    return value.clone();
  }

  /** Whether a secret {@code id} is defined. */
  public boolean contains(String id) {
    return secrets.containsKey(id);
  }

  private static Map<String, Object> members(String definition) throws ObjectDefinitionException {
    if (!definition.startsWith("{")) {
      return Keyval.parse(definition, "qom-type").values();
    }
    Object parsed;
    try {
      parsed = QemuJson.parse(definition);
    } catch (QemuJson.JsonException e) {
      throw new ObjectDefinitionException(e.getMessage());
    }
    if (!(parsed instanceof Map<?, ?> object)) {
      throw new ObjectDefinitionException("JSON --object argument must be an object");
    }
    Map<String, Object> members = new LinkedHashMap<>();
    object.forEach((key, value) -> members.put(String.valueOf(key), value));
    return members;
  }

  private static String string(Map<String, Object> members, String key) throws ObjectDefinitionException {
    Object value = members.get(key);
    if (value == null) {
      return null;
    }
    if (!(value instanceof String text)) {
      throw new ObjectDefinitionException("Invalid parameter type for '" + key + "', expected: string");
    }
    return text;
  }

  private static ObjectDefinitionException refusedType(String type) {
    if (!OBJECT_TYPES.contains(type)) {
      return new ObjectDefinitionException("Parameter 'qom-type' does not accept value '" + type + "'");
    }
    if (!TOOL_TYPES.contains(type)) {
      return new ObjectDefinitionException("invalid object type: " + type);
    }
    return new ObjectDefinitionException("object type '" + type + "' is not supported (only 'secret' is)");
  }

  /** QEMU's secret loading: data or file, then decryption under keyid or base64 decoding. */
  private byte[] load(Map<String, Object> members, boolean base64) throws ObjectDefinitionException {
    String data = string(members, "data");
    String file = string(members, "file");
    if (data != null && file != null) {
      throw new ObjectDefinitionException("'file' and 'data' are mutually exclusive");
    }
    byte[] input;
    if (data != null) {
      input = data.getBytes(StandardCharsets.UTF_8);
    } else if (file != null) {
      input = readFile(file);
    } else {
      throw new ObjectDefinitionException("Either 'file' or 'data' must be provided");
    }
    String keyId = string(members, "keyid");
    if (keyId != null) {
      return decrypt(input, keyId, string(members, "iv"), base64);
    }
    return base64 ? base64(input) : input;
  }

  private static byte[] readFile(String file) throws ObjectDefinitionException {
    try {
      return Files.readAllBytes(Path.of(file));
    } catch (NoSuchFileException e) {
      throw unreadable(file, "Failed to open file “" + file + "”: No such file or directory");
    } catch (AccessDeniedException e) {
      throw unreadable(file, "Failed to open file “" + file + "”: Permission denied");
    } catch (IOException | RuntimeException e) {
      throw unreadable(file, "Failed to read from file “" + file + "”: " + e.getMessage());
    }
  }

  private static ObjectDefinitionException unreadable(String file, String reason) {
    return new ObjectDefinitionException("Unable to read " + file + ": " + reason);
  }

  /** qcrypto_secret_decrypt: AES-256-CBC under the 32-byte secret {@code keyId}, PKCS#7 padding. */
  private byte[] decrypt(byte[] input, String keyId, String iv, boolean base64) throws ObjectDefinitionException {
    byte[] key = secrets.get(keyId);
    if (key == null) {
      throw new ObjectDefinitionException("No secret with id '" + keyId + "'");
    }
    if (key.length != 32) {
      throw new ObjectDefinitionException("Key should be 32 bytes in length");
    }
    if (iv == null) {
      throw new ObjectDefinitionException("IV is required to decrypt secret");
    }
    byte[] ivBytes = base64(iv.getBytes(StandardCharsets.UTF_8));
    if (ivBytes.length != 16) {
      throw new ObjectDefinitionException("IV should be 16 bytes in length not " + ivBytes.length);
    }
    byte[] ciphertext = base64 ? base64(input) : input;
    if (ciphertext.length % 16 != 0 || ciphertext.length == 0) {
      throw new ObjectDefinitionException("Length " + ciphertext.length + " must be a multiple of block size 16");
    }
    byte[] plaintext;
    try {
      Cipher aes = Cipher.getInstance("AES/CBC/NoPadding");
      aes.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new IvParameterSpec(ivBytes));
      plaintext = aes.doFinal(ciphertext);
    } catch (GeneralSecurityException e) {
      throw new ObjectDefinitionException("Cannot decrypt secret: " + e.getMessage());
    }
    int padding = plaintext[plaintext.length - 1] & 0xff;
    if (padding > 16 || padding > plaintext.length) {
      throw new ObjectDefinitionException("Incorrect number of padding bytes (" + padding
          + ") found on decrypted data");
    }
    return Arrays.copyOf(plaintext, plaintext.length - padding);
  }

  /** qbase64_decode: only the base64 alphabet, then glib's lenient decoding (padding optional). */
  private static byte[] base64(byte[] text) throws ObjectDefinitionException {
    for (byte b : text) {
      if (b == 0) {
        throw new ObjectDefinitionException("Data contains embedded NUL characters");
      }
      if (BASE64_ALPHABET.indexOf((char) (b & 0xff)) < 0) {
        throw new ObjectDefinitionException("Base64 data contains invalid characters");
      }
    }
    byte[] out = new byte[text.length * 3 / 4 + 3];
    int length = 0;
    int bits = 0;
    int count = 0;
    for (byte b : text) {
      if (b == '=') {
        continue;
      }
      bits = (bits << 6) | BASE64_ALPHABET.indexOf((char) b);
      count++;
      if (count == 4) {
        out[length++] = (byte) (bits >> 16);
        out[length++] = (byte) (bits >> 8);
        out[length++] = (byte) bits;
        bits = 0;
        count = 0;
      }
    }
    if (count == 2) {
      out[length++] = (byte) (bits >> 4);
    } else if (count == 3) {
      out[length++] = (byte) (bits >> 10);
      out[length++] = (byte) (bits >> 2);
    }
    return Arrays.copyOf(out, length);
  }
}
