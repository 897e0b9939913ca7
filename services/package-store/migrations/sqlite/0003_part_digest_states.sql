-- What the digest readers had computed at the end of each staged part
-- (domain::DigestStates, as JSON): a resumed upload continues from there
-- instead of hashing the staged prefix again. NULL: not saved (the CPU's
-- SHA-256 keeps its state opaque, or the payload has its own SHA-256).
ALTER TABLE upload_part ADD COLUMN digest_states TEXT;
