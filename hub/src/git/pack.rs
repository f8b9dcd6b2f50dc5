//! What a fetch needs and the pack that carries it: `main`'s history, where a shallow fetch
//! cuts it, the objects reachable from the wanted commits but not from the commits both sides
//! have, and a version-2 pack of those objects (whole objects, no deltas, zlib-compressed,
//! SHA-1 trailer).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;

use gix::ObjectId;

use super::Error;
use super::repo::main_id;

/// At most this many commits are walked to answer one request.
const MAX_HISTORY: usize = 2_000_000;

/// A shallow fetch's request: what the client already has cut, and how deep it wants to go.
#[derive(Debug, Default)]
pub(crate) struct ShallowRequest {
    /// Commits the client has without their parents (its `shallow` lines).
    pub(crate) client: HashSet<ObjectId>,
    /// The requested depth (`deepen N`; 1 = only the wanted commits), if any.
    pub(crate) depth: Option<u32>,
}

impl ShallowRequest {
    /// Whether a protocol v2 response carries a shallow-info section.
    pub(crate) fn is_shallow(&self) -> bool {
        self.depth.is_some() || !self.client.is_empty()
    }

    /// Whether a protocol v0/v1 response carries a shallow section: only when the client
    /// asked for a depth (a shallow client fetching as usual expects none).
    pub(crate) fn deepens(&self) -> bool {
        self.depth.is_some()
    }
}

/// Where the history is cut for one shallow fetch.
#[derive(Debug, Default)]
pub(crate) struct ShallowCut {
    /// New boundary commits to announce with `shallow`, in a stable order.
    pub(crate) shallow: Vec<ObjectId>,
    /// Client boundary commits whose parents are now sent, announced with `unshallow`.
    pub(crate) unshallow: Vec<ObjectId>,
    /// Commits whose parents are not sent (new and remaining client boundaries).
    boundary: HashSet<ObjectId>,
    /// The client's boundaries: it lacks their parents.
    client: HashSet<ObjectId>,
}

#[derive(Debug)]
struct CommitInfo {
    tree: ObjectId,
    parents: Vec<ObjectId>,
}

/// `main`'s history as served to one request: every commit reachable from its tip.
#[derive(Debug)]
pub(crate) struct History {
    commits: HashMap<ObjectId, CommitInfo>,
}

impl History {
    /// Walks `main` from its tip.
    pub(crate) fn load(repo: &gix::Repository) -> Result<History, Error> {
        let tip = main_id(repo)?;
        let mut commits = HashMap::new();
        let mut queue: Vec<ObjectId> = tip.into_iter().collect();
        while let Some(id) = queue.pop() {
            if commits.contains_key(&id) {
                continue;
            }
            if commits.len() >= MAX_HISTORY {
                return Err(Error::TooLarge(format!(
                    "main has more than {MAX_HISTORY} commits"
                )));
            }
            let object = repo
                .find_object(id)
                .map_err(Error::storage("a commit of main could not be read"))?;
            let commit = gix::objs::CommitRef::from_bytes(&object.data, repo.object_hash())
                .map_err(Error::storage("a commit of main could not be decoded"))?;
            let parents: Vec<ObjectId> = commit.parents().collect();
            queue.extend(parents.iter().copied());
            commits.insert(
                id,
                CommitInfo {
                    tree: commit.tree(),
                    parents,
                },
            );
        }
        Ok(History { commits })
    }

    /// Whether `id` is a commit of `main`'s history.
    pub(crate) fn contains(&self, id: &ObjectId) -> bool {
        self.commits.contains_key(id)
    }

    /// The commits the client has: those reachable from `roots`, the roots included, not
    /// looking past the client's shallow boundaries.
    fn ancestors(
        &self,
        roots: impl IntoIterator<Item = ObjectId>,
        cut: &ShallowCut,
    ) -> HashSet<ObjectId> {
        let mut seen = HashSet::new();
        let mut queue: Vec<ObjectId> = roots.into_iter().filter(|r| self.contains(r)).collect();
        while let Some(id) = queue.pop() {
            if !seen.insert(id) || cut.client.contains(&id) {
                continue;
            }
            if let Some(info) = self.commits.get(&id) {
                queue.extend(info.parents.iter().copied());
            }
        }
        seen
    }

    /// Where a shallow fetch of `wants` cuts the history: commits more than `depth - 1`
    /// parents away from every want are not sent, and the deepest ones sent become the
    /// client's new boundaries.
    pub(crate) fn shallow_cut(&self, wants: &[ObjectId], request: &ShallowRequest) -> ShallowCut {
        let mut cut = ShallowCut {
            client: request.client.clone(),
            ..ShallowCut::default()
        };
        let Some(depth) = request.depth else {
            cut.boundary = request.client.clone();
            return cut;
        };
        // Breadth first, so each commit is first met at its smallest depth.
        let mut level: HashMap<ObjectId, u32> = HashMap::new();
        let mut queue: VecDeque<(ObjectId, u32)> = VecDeque::new();
        for want in wants {
            if level.insert(*want, 1).is_none() {
                queue.push_back((*want, 1));
            }
        }
        let mut order = Vec::new();
        while let Some((id, d)) = queue.pop_front() {
            order.push(id);
            let Some(info) = self.commits.get(&id) else {
                continue;
            };
            if d >= depth {
                continue;
            }
            for parent in &info.parents {
                if !level.contains_key(parent) {
                    level.insert(*parent, d.saturating_add(1));
                    queue.push_back((*parent, d.saturating_add(1)));
                }
            }
        }
        for id in order {
            let d = level.get(&id).copied().unwrap_or(depth);
            let has_parents = self
                .commits
                .get(&id)
                .is_some_and(|info| !info.parents.is_empty());
            if d >= depth && has_parents {
                cut.boundary.insert(id);
                if !request.client.contains(&id) {
                    cut.shallow.push(id);
                }
            } else if request.client.contains(&id) {
                cut.unshallow.push(id);
            }
        }
        // Client boundaries this fetch does not reach stay boundaries.
        for id in &request.client {
            if !level.contains_key(id) {
                cut.boundary.insert(*id);
            }
        }
        cut
    }

    /// Whether every wanted commit has one of `common` among its ancestors (itself included):
    /// then the client has enough to receive a pack that needs no more negotiation.
    pub(crate) fn all_reach(&self, wants: &[ObjectId], common: &HashSet<ObjectId>) -> bool {
        if common.is_empty() {
            return false;
        }
        wants.iter().all(|want| {
            let mut seen = HashSet::new();
            let mut queue = vec![*want];
            while let Some(id) = queue.pop() {
                if common.contains(&id) {
                    return true;
                }
                if seen.insert(id)
                    && let Some(info) = self.commits.get(&id)
                {
                    queue.extend(info.parents.iter().copied());
                }
            }
            false
        })
    }

    /// The objects reachable from `wants` but not from `common`, commits first (newest first),
    /// then each commit's new trees and files.
    pub(crate) fn objects_to_send(
        &self,
        repo: &gix::Repository,
        wants: &[ObjectId],
        common: &HashSet<ObjectId>,
        cut: &ShallowCut,
    ) -> Result<Vec<ObjectId>, Error> {
        let theirs = self.ancestors(common.iter().copied(), cut);
        let mut commits = Vec::new();
        let mut edges = HashSet::new();
        let mut seen = HashSet::new();
        let mut queue: VecDeque<ObjectId> = VecDeque::new();
        for want in wants {
            if !theirs.contains(want) && seen.insert(*want) {
                queue.push_back(*want);
            }
        }
        // The parents of commits the client unshallows are new to it.
        for id in &cut.unshallow {
            edges.insert(*id);
            if let Some(info) = self.commits.get(id) {
                for parent in &info.parents {
                    if !theirs.contains(parent) && seen.insert(*parent) {
                        queue.push_back(*parent);
                    }
                }
            }
        }
        while let Some(id) = queue.pop_front() {
            let Some(info) = self.commits.get(&id) else {
                return Err(Error::protocol(format!("{id} is not a commit of main")));
            };
            commits.push(id);
            if cut.boundary.contains(&id) {
                continue;
            }
            for parent in &info.parents {
                if theirs.contains(parent) {
                    edges.insert(*parent);
                } else if seen.insert(*parent) {
                    queue.push_back(*parent);
                }
            }
        }
        // Everything in the trees at the boundary is on the client already.
        let mut known = HashSet::new();
        for id in edges.iter().chain(common.iter()) {
            if let Some(info) = self.commits.get(id) {
                walk_tree(repo, info.tree, &mut known, None)?;
            }
        }
        let mut objects = commits.clone();
        for id in &commits {
            if let Some(info) = self.commits.get(id) {
                walk_tree(repo, info.tree, &mut known, Some(&mut objects))?;
            }
        }
        Ok(objects)
    }
}

/// Marks `root` and everything below it as known, appending the newly seen ids to `out`.
fn walk_tree(
    repo: &gix::Repository,
    root: ObjectId,
    known: &mut HashSet<ObjectId>,
    mut out: Option<&mut Vec<ObjectId>>,
) -> Result<(), Error> {
    if !known.insert(root) {
        return Ok(());
    }
    if let Some(out) = out.as_deref_mut() {
        out.push(root);
    }
    let mut stack = vec![root];
    while let Some(tree) = stack.pop() {
        let object = repo
            .find_object(tree)
            .map_err(Error::storage("a tree could not be read"))?;
        let decoded = gix::objs::TreeRef::from_bytes(&object.data, repo.object_hash())
            .map_err(Error::storage("a tree could not be decoded"))?;
        for entry in decoded.entries {
            // Submodule entries name commits of other repositories: never sent.
            if entry.mode.is_commit() {
                continue;
            }
            let id = entry.oid.to_owned();
            if !known.insert(id) {
                continue;
            }
            if let Some(out) = out.as_deref_mut() {
                out.push(id);
            }
            if entry.mode.is_tree() {
                stack.push(id);
            }
        }
    }
    Ok(())
}

/// Writes a version-2 pack of `ids`, each stored whole, to `out` as it goes: one object is in
/// memory at a time, whatever the size of the pack.
pub(crate) fn write_pack(
    repo: &gix::Repository,
    ids: &[ObjectId],
    out: &mut dyn Write,
) -> Result<(), Error> {
    let count = u32::try_from(ids.len())
        .map_err(|_| Error::TooLarge("a pack cannot hold that many objects".into()))?;
    let mut out = Hashing {
        inner: out,
        hasher: gix::hash::hasher(gix::hash::Kind::Sha1),
    };
    let mut header = Vec::with_capacity(12);
    header.extend_from_slice(b"PACK");
    header.extend_from_slice(&2u32.to_be_bytes());
    header.extend_from_slice(&count.to_be_bytes());
    out.write_all(&header).map_err(sent)?;
    for id in ids {
        let object = repo
            .find_object(*id)
            .map_err(Error::storage("an object to send could not be read"))?;
        let type_code: u8 = match object.kind {
            gix::objs::Kind::Commit => 1,
            gix::objs::Kind::Tree => 2,
            gix::objs::Kind::Blob => 3,
            gix::objs::Kind::Tag => 4,
        };
        let mut entry = Vec::with_capacity(object.data.len() / 2 + 16);
        write_entry_header(&mut entry, type_code, object.data.len());
        let mut encoder = flate2::write::ZlibEncoder::new(&mut entry, flate2::Compression::fast());
        encoder
            .write_all(&object.data)
            .and_then(|()| encoder.finish().map(|_| ()))
            .map_err(|e| Error::Storage {
                context: "an object could not be compressed",
                detail: e.to_string(),
            })?;
        out.write_all(&entry).map_err(sent)?;
    }
    let digest = out.hasher.try_finalize().map_err(|e| Error::Storage {
        context: "the pack checksum could not be computed",
        detail: e.to_string(),
    })?;
    out.inner.write_all(digest.as_bytes()).map_err(sent)
}

/// A writer that hashes what passes through it (the pack's trailing checksum).
struct Hashing<'a> {
    inner: &'a mut dyn Write,
    hasher: gix::hash::Hasher,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The pack could not be handed on (the client went away, say).
pub(crate) fn sent(e: std::io::Error) -> Error {
    Error::Storage {
        context: "the pack could not be sent",
        detail: e.to_string(),
    }
}

/// The entry header: type in bits 4-6 of the first byte, size in 4 + 7·n bits, little-endian.
fn write_entry_header(out: &mut Vec<u8>, type_code: u8, size: usize) {
    let mut size = size as u64;
    let mut byte = (type_code << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size > 0 {
        out.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(byte);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers_follow_the_pack_format() {
        let mut out = Vec::new();
        write_entry_header(&mut out, 3, 10);
        assert_eq!(out, [0x3a]);
        out.clear();
        write_entry_header(&mut out, 1, 300);
        // 300 = 0b1_0010_1100: low nibble 0xc, then 0b10010 = 18.
        assert_eq!(out, [0x80 | 0x10 | 0x0c, 18]);
    }
}
