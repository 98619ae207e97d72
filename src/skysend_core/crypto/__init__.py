"""The end-to-end encryption scheme, sans I/O (crypto.md).

Everything here is pure computation on bytes and strings: no files, sockets, clocks or
output. Modules by concept:

* :mod:`.keys` — secrets, salts, HKDF keys, auth and owner tokens, :class:`ItemKeys`.
* :mod:`.password` — Argon2id password key and the XOR protection of the secret.
* :mod:`.encoding` — base64url (unpadded) and standard base64.
* :mod:`.share` — share URLs.
* :mod:`.ece` — the streaming payload format: :class:`Encryptor`, :class:`Decryptor`, sizes.
* :mod:`.metadata` — metadata schemas (attrs classes) and their encryption.
* :mod:`.notes`, :mod:`.note_formats` — note encryption and per-type plaintext layouts.
* :mod:`.archive` — conventions for multi-file ZIP payloads.
* :mod:`.aead` — AES-256-GCM sealing and :class:`IntegrityError`.

Errors: every decryption or integrity failure (wrong key, tampering, truncation, a
malformed stream or metadata) raises :class:`IntegrityError` with one fixed message.
Misuse by the caller (a key of the wrong length, an empty password, malformed base64 or a
malformed share URL) raises :class:`ValueError`.
"""

from skysend_core.crypto.aead import (
    KEY_LENGTH,
    NONCE_LENGTH,
    TAG_LENGTH,
    BytesLike,
    IntegrityError,
)
from skysend_core.crypto.archive import (
    ARCHIVE_FILE_NAME,
    INCOMPRESSIBLE_EXTENSIONS,
    MAX_ARCHIVE_SIZE,
    compression_level,
)
from skysend_core.crypto.ece import (
    ENCRYPTED_RECORD_SIZE,
    RECORD_SIZE,
    Decryptor,
    Encryptor,
    decrypt_chunks,
    decrypt_payload,
    encrypt_chunks,
    encrypt_payload,
    encrypted_size,
    plaintext_size,
    record_nonce,
)
from skysend_core.crypto.encoding import (
    b64_decode,
    b64_decode_any,
    b64_encode,
    b64url_decode,
    b64url_encode,
)
from skysend_core.crypto.keys import (
    LEGACY_SALT_LENGTH,
    SALT_LENGTH,
    SECRET_LENGTH,
    ItemKeys,
    compute_auth_token,
    derive_auth_key,
    derive_file_key,
    derive_meta_key,
    derive_owner_token,
    generate_salt,
    generate_secret,
)
from skysend_core.crypto.metadata import (
    DEFAULT_MIME_TYPE,
    ArchiveEntry,
    ArchiveMetadata,
    EncryptedMetadata,
    Metadata,
    SingleFileMetadata,
    decrypt_metadata,
    encrypt_metadata,
    metadata_from_json,
    metadata_to_json,
    safe_file_name,
)
from skysend_core.crypto.note_formats import (
    NOTE_CONTENT_TYPES,
    CodeBlock,
    NoteContentType,
    PasswordEntry,
    SshKeyNote,
    format_code_note,
    format_password_note,
    format_sshkey_note,
    parse_code_note,
    parse_password_note,
    parse_sshkey_note,
)
from skysend_core.crypto.notes import (
    EncryptedNote,
    decrypt_note,
    encrypt_note,
    note_plaintext_length,
)
from skysend_core.crypto.password import (
    PASSWORD_ALGORITHM,
    PASSWORD_SALT_LENGTH,
    derive_password_key,
    generate_password_salt,
    is_supported_password_algorithm,
    protect_secret,
    unprotect_secret,
)
from skysend_core.crypto.share import (
    ShareKind,
    ShareLocation,
    ShareUrl,
    build_share_url,
    parse_share_location,
    parse_share_url,
)

__all__ = [
    "ARCHIVE_FILE_NAME",
    "DEFAULT_MIME_TYPE",
    "ENCRYPTED_RECORD_SIZE",
    "INCOMPRESSIBLE_EXTENSIONS",
    "KEY_LENGTH",
    "LEGACY_SALT_LENGTH",
    "MAX_ARCHIVE_SIZE",
    "NONCE_LENGTH",
    "NOTE_CONTENT_TYPES",
    "PASSWORD_ALGORITHM",
    "PASSWORD_SALT_LENGTH",
    "RECORD_SIZE",
    "SALT_LENGTH",
    "SECRET_LENGTH",
    "TAG_LENGTH",
    "ArchiveEntry",
    "ArchiveMetadata",
    "BytesLike",
    "CodeBlock",
    "Decryptor",
    "EncryptedMetadata",
    "EncryptedNote",
    "Encryptor",
    "IntegrityError",
    "ItemKeys",
    "Metadata",
    "NoteContentType",
    "PasswordEntry",
    "ShareKind",
    "ShareLocation",
    "ShareUrl",
    "SingleFileMetadata",
    "SshKeyNote",
    "b64_decode",
    "b64_decode_any",
    "b64_encode",
    "b64url_decode",
    "b64url_encode",
    "build_share_url",
    "compression_level",
    "compute_auth_token",
    "decrypt_chunks",
    "decrypt_metadata",
    "decrypt_note",
    "decrypt_payload",
    "derive_auth_key",
    "derive_file_key",
    "derive_meta_key",
    "derive_owner_token",
    "derive_password_key",
    "encrypt_chunks",
    "encrypt_metadata",
    "encrypt_note",
    "encrypt_payload",
    "encrypted_size",
    "format_code_note",
    "format_password_note",
    "format_sshkey_note",
    "generate_password_salt",
    "generate_salt",
    "generate_secret",
    "is_supported_password_algorithm",
    "metadata_from_json",
    "metadata_to_json",
    "note_plaintext_length",
    "parse_code_note",
    "parse_password_note",
    "parse_share_location",
    "parse_share_url",
    "parse_sshkey_note",
    "plaintext_size",
    "protect_secret",
    "record_nonce",
    "safe_file_name",
    "unprotect_secret",
]
