//! The journal's file: where a commit group that writes nothing else into
//! the tables puts its record, rather than a row of the `journal` table.
//!
//! Why a file: committing one journal row costs DuckDB 270–700 µs of CPU
//! (its log writes the row and reads a long blob back from its overflow
//! blocks, and a commit that finds the log large checkpoints), where
//! appending the same bytes to a file and `fdatasync`-ing it costs 60–110
//! µs here. The guarantee is the same: a group is answered once its
//! record is on disk. A group that writes into the tables anyway (new
//! facts, a revert's marks) keeps its row in that transaction, so that
//! the record and those writes stand or fall together; the replay reads
//! both (`catch_up::replay`).
//!
//! Segments lie beside the database, `<database>.journal.<first
//! revision>`: a header (magic, the database's id as a frame) and then one
//! frame per group — its length (u32 LE), the CRC-32 of its bytes (u32
//! LE), the bytes (`journal::Group`, what a `journal` row holds). The
//! writer appends to the newest segment; the tables' catch-up seals it
//! when it takes the records (the next append starts another), and once
//! the catch-up has committed, the sealed segments whose revisions the
//! changelog holds are removed. At start the segments are replayed into
//! the tables and removed.
//!
//! A crash mid-append leaves a torn last frame, of a group nobody was
//! answered for: reading stops there. A failed append is cut off again
//! (or, if even that fails, nothing more is appended until a restart). A
//! bad frame anywhere else, or a segment of another database, is an
//! error: the server does not start from a journal it cannot trust.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use prost::Message;

use super::journal::{Group, Revision};

const MAGIC: &[u8; 8] = b"DGJRNL01";
const FRAME_HEAD: usize = 8;

/// The open journal file of a running writer.
pub struct JournalFile {
    database: PathBuf,
    database_id: String,
    /// The segment appended to (made at the first append after a seal).
    current: Option<Segment>,
    /// Segments no longer appended to, waiting for the tables.
    sealed: Vec<(PathBuf, i64)>,
    /// Why nothing may be appended any more (a failed append that could
    /// not be cut off).
    broken: Option<String>,
}

struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
    /// The revision it is named after, and its newest (`first - 1` while
    /// it holds none).
    first: i64,
    last: i64,
}

impl JournalFile {
    /// The journal of the database file `database` (whose segments the
    /// replay at start has removed).
    pub fn new(database: &Path, database_id: &str) -> JournalFile {
        JournalFile {
            database: database.to_owned(),
            database_id: database_id.to_owned(),
            current: None,
            sealed: Vec::new(),
            broken: None,
        }
    }

    /// Appends a group's record (`journal::encode`) and waits until it is
    /// on disk. On error nothing of it stays.
    pub fn append(&mut self, group: &Group, record: &[u8]) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        let (Some(first), Some(last)) = (group.revisions.first(), group.revisions.last()) else {
            return Ok(());
        };
        if self.current.is_none() {
            self.current = Some(self.create(first.revision)?);
        }
        let segment = self.current.as_mut().expect("a segment");
        let frame = frame(record);
        match (segment.file.write_all(&frame)).and_then(|()| segment.file.sync_data()) {
            Ok(()) => {
                segment.len += frame.len() as u64;
                segment.last = last.revision;
                Ok(())
            }
            Err(e) => {
                // What did reach the file must go, or the revision, used
                // again by the next group, would be there twice.
                let cut = segment.file.set_len(segment.len);
                if let Err(cut) = cut.and_then(|()| segment.file.sync_data()) {
                    self.broken = Some(format!(
                        "{} could not be cut back after a failed append ({cut}): restart the server",
                        segment.path.display()
                    ));
                }
                Err(e)
            }
        }
    }

    /// The catch-up has taken every record so far: later groups go to a
    /// new segment.
    pub fn seal(&mut self) {
        let Some(segment) = self.current.take() else {
            return;
        };
        if segment.last < segment.first {
            // Its only append failed: the next segment may need its name.
            if let Err(e) = std::fs::remove_file(&segment.path) {
                tracing::warn!(path = %segment.path.display(), error = %e, "could not remove an empty journal segment");
            }
            return;
        }
        self.sealed.push((segment.path, segment.last));
    }

    /// The tables hold every revision up to `logged`: the sealed segments
    /// within it go.
    pub fn written_through(&mut self, logged: i64) {
        self.sealed.retain(|(path, last)| {
            if *last > logged {
                return true;
            }
            if let Err(e) = std::fs::remove_file(path) {
                // Harmless: the replay skips what the changelog holds.
                tracing::warn!(path = %path.display(), error = %e, "could not remove a written journal segment");
            }
            false
        });
    }

    fn create(&self, first: i64) -> io::Result<Segment> {
        let path = segment_path(&self.database, first);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        let mut head = MAGIC.to_vec();
        head.extend(frame(self.database_id.as_bytes()));
        // The new name must last as long as the frames in it.
        let made = (file.write_all(&head))
            .and_then(|()| file.sync_data())
            .and_then(|()| File::open(directory(&self.database))?.sync_all());
        if let Err(e) = made {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Segment {
            path,
            file,
            len: head.len() as u64,
            first,
            last: first - 1,
        })
    }
}

/// Every revision the segments of `database` hold, in the order written.
pub fn read(database: &Path, database_id: &str) -> anyhow::Result<Vec<Revision>> {
    let segments = segments(database)?;
    let mut out = Vec::new();
    for (i, path) in segments.iter().enumerate() {
        let newest = i + 1 == segments.len();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let torn = |what: &str| -> anyhow::Result<()> {
            if newest {
                tracing::warn!(path = %path.display(), "{what}: a write cut off by a crash, never acknowledged; ignored");
                Ok(())
            } else {
                bail!(
                    "{} is damaged ({what}) and is not the newest segment",
                    path.display()
                )
            }
        };
        if bytes.len() < MAGIC.len() {
            torn("a partial header")?;
            continue;
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            bail!("{} is not a duckgrid journal segment", path.display());
        }
        let mut frames = Frames(&bytes[MAGIC.len()..]);
        match frames.next() {
            Some(Ok(id)) if id == database_id.as_bytes() => {}
            Some(Ok(id)) => bail!(
                "{} belongs to another database (id {}; this one is {database_id}): move it away",
                path.display(),
                String::from_utf8_lossy(id)
            ),
            _ => {
                torn("a partial header")?;
                continue;
            }
        }
        for frame in frames {
            let Ok(record) = frame else {
                torn("a partial or damaged last frame")?;
                break;
            };
            let group = Group::decode(record)
                .with_context(|| format!("a frame of {} is corrupt", path.display()))?;
            out.extend(group.revisions);
        }
    }
    Ok(out)
}

/// Removes the segments of `database`; returns how many there were.
pub fn remove(database: &Path) -> io::Result<usize> {
    let segments = segments(database)?;
    for path in &segments {
        std::fs::remove_file(path)?;
    }
    Ok(segments.len())
}

/// The segments of `database`, oldest first.
fn segments(database: &Path) -> io::Result<Vec<PathBuf>> {
    let prefix = prefix(database);
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(directory(database)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        found.push((first, entry.path()));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

fn prefix(database: &Path) -> String {
    let name = database
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    format!("{}.journal.", name.unwrap_or_default())
}

fn segment_path(database: &Path, first: i64) -> PathBuf {
    directory(database).join(format!("{}{first:020}", prefix(database)))
}

fn directory(database: &Path) -> PathBuf {
    match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn frame(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEAD + bytes.len());
    out.extend((bytes.len() as u32).to_le_bytes());
    out.extend(crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

/// The frames of a segment's body; an `Err` (then the end) for a partial
/// or damaged one.
struct Frames<'a>(&'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.0);
        let Some((head, body)) = rest.split_at_checked(FRAME_HEAD) else {
            return Some(Err(()));
        };
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        let Some((bytes, rest)) = body.split_at_checked(len) else {
            return Some(Err(()));
        };
        if crc32fast::hash(bytes) != crc {
            return Some(Err(()));
        }
        self.0 = rest;
        Some(Ok(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::encode;

    fn group(revisions: std::ops::RangeInclusive<i64>) -> Group {
        Group {
            revisions: revisions
                .map(|revision| Revision {
                    revision,
                    actor: format!("actor {revision}"),
                    fact_ids: vec![revision * 10],
                    measures: vec![0],
                    before: vec![-revision],
                    after: vec![revision],
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// A journal of database `id-1` in a new directory.
    fn fresh() -> (tempfile::TempDir, PathBuf, JournalFile) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("grid.duckdb");
        let journal = JournalFile::new(&db, "id-1");
        (dir, db, journal)
    }

    fn append(journal: &mut JournalFile, revisions: std::ops::RangeInclusive<i64>) {
        let group = group(revisions);
        journal.append(&group, &encode(&group)).unwrap();
    }

    fn numbers(revisions: &[Revision]) -> Vec<i64> {
        revisions.iter().map(|r| r.revision).collect()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn segments_are_read_in_order_and_go_once_the_tables_hold_them() {
        let (dir, db, mut journal) = fresh();
        journal.seal(); // nothing to seal: no file
        assert!(files(dir.path()).is_empty());
        append(&mut journal, 1..=3);
        append(&mut journal, 4..=4);
        journal.seal();
        append(&mut journal, 5..=6);
        assert_eq!(
            files(dir.path()),
            [
                "grid.duckdb.journal.00000000000000000001",
                "grid.duckdb.journal.00000000000000000005"
            ]
        );
        let read = read(&db, "id-1").unwrap();
        assert_eq!(numbers(&read), [1, 2, 3, 4, 5, 6]);
        assert_eq!(read[3], group(4..=4).revisions[0]);

        // The catch-up wrote up to 3 only: the sealed segment (up to 4) stays.
        journal.written_through(3);
        assert_eq!(files(dir.path()).len(), 2);
        journal.written_through(4);
        assert_eq!(
            files(dir.path()),
            ["grid.duckdb.journal.00000000000000000005"]
        );
        // The open segment stays until sealed and written.
        journal.written_through(6);
        assert_eq!(files(dir.path()).len(), 1);
        journal.seal();
        journal.written_through(6);
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_torn_last_frame_is_ignored_but_damage_before_the_newest_segment_is_not() {
        let (_dir, db, mut journal) = fresh();
        append(&mut journal, 1..=2);
        journal.seal();
        append(&mut journal, 3..=3);
        let newest = segment_path(&db, 3);
        let whole = std::fs::read(&newest).unwrap();
        // A crash in the middle of appending revision 4.
        let mut torn = whole.clone();
        let next = frame(&encode(&group(4..=4)));
        torn.extend(&next[..next.len() - 3]);
        std::fs::write(&newest, &torn).unwrap();
        assert_eq!(numbers(&read(&db, "id-1").unwrap()), [1, 2, 3]);
        // A flipped bit in the last frame: its check fails, the same.
        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        std::fs::write(&newest, &flipped).unwrap();
        assert_eq!(numbers(&read(&db, "id-1").unwrap()), [1, 2]);
        // A crash while the segment's header was written.
        std::fs::write(&newest, &whole[..5]).unwrap();
        assert_eq!(numbers(&read(&db, "id-1").unwrap()), [1, 2]);

        // The same damage in an older segment is an error.
        std::fs::write(&newest, &whole).unwrap();
        let older = segment_path(&db, 1);
        let mut bytes = std::fs::read(&older).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&older, &bytes).unwrap();
        let error = read(&db, "id-1").unwrap_err().to_string();
        assert!(error.contains("is damaged"), "{error}");
    }

    #[test]
    fn an_append_that_fails_and_cannot_be_cut_back_stops_every_later_one() {
        let (_dir, db, mut journal) = fresh();
        append(&mut journal, 1..=1);
        // The segment's handle can neither write nor cut any more.
        let segment = journal.current.as_mut().unwrap();
        segment.file = File::open(&segment.path).unwrap();
        let next = group(2..=2);
        let first = journal.append(&next, &encode(&next)).unwrap_err();
        assert!(!first.to_string().contains("restart"), "{first}");
        let later = journal.append(&next, &encode(&next)).unwrap_err();
        assert!(later.to_string().contains("restart the server"), "{later}");
        assert_eq!(numbers(&read(&db, "id-1").unwrap()), [1]);
    }

    #[test]
    fn a_segment_whose_only_append_failed_goes_at_the_seal_and_frees_its_name() {
        let (dir, db, mut journal) = fresh();
        append(&mut journal, 1..=1);
        journal.seal();
        // Revision 2's segment was made, and its append failed and was cut
        // back: a header and no frame. Revision 2 is used again after.
        journal.current = Some(journal.create(2).unwrap());
        journal.seal();
        assert_eq!(
            files(dir.path()),
            ["grid.duckdb.journal.00000000000000000001"]
        );
        append(&mut journal, 2..=3);
        assert_eq!(numbers(&read(&db, "id-1").unwrap()), [1, 2, 3]);
        journal.seal();
        journal.written_through(3);
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_segment_of_another_database_is_an_error_and_remove_clears_them() {
        let (dir, db, mut journal) = fresh();
        append(&mut journal, 1..=1);
        let error = read(&db, "id-2").unwrap_err().to_string();
        assert!(error.contains("another database"), "{error}");
        // Another database's name in the same directory is not its.
        std::fs::write(dir.path().join("other.duckdb.journal.1"), b"x").unwrap();
        std::fs::write(dir.path().join("grid.duckdb.journal.notes"), b"x").unwrap();
        assert_eq!(remove(&db).unwrap(), 1);
        assert_eq!(
            files(dir.path()),
            ["grid.duckdb.journal.notes", "other.duckdb.journal.1"]
        );
        assert!(read(&db, "id-1").unwrap().is_empty());
    }

    #[test]
    fn a_new_database_removes_a_former_ones_segments_and_an_old_one_refuses_them() {
        use crate::demo::DemoSpec;
        use crate::store::{self, ModelSource};
        let open = |db: &Path| {
            let demo = ModelSource::Demo(DemoSpec::new(7, 2_000));
            store::open(db.to_str().unwrap(), &demo, None)
        };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("grid.duckdb");
        // A former grid.duckdb, moved away, left a segment.
        let mut former = JournalFile::new(&db, "former");
        append(&mut former, 1..=2);
        let opened = open(&db).unwrap();
        assert_eq!(opened.head, 0);
        assert!(files(dir.path()).iter().all(|f| !f.contains(".journal.")));
        drop(opened);
        // Beside the database as it is now, it is another's: no start.
        append(&mut JournalFile::new(&db, "former"), 1..=2);
        let error = format!("{:#}", open(&db).err().expect("refused"));
        assert!(error.contains("another database"), "{error}");
    }
}
