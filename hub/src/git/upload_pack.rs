//! Git smart HTTP, read side: the reference advertisement (`GET info/refs`) and upload-pack in
//! stateless-RPC mode (`POST git-upload-pack`), for protocol versions 0 and 1 (what go-git
//! clients such as Argo CD and Flux speak) and version 2 (the git CLI's default).
//!
//! Version 0/1 negotiation follows the capabilities the client picked: without `multi_ack` the
//! first common commit is acknowledged once; with `multi_ack` each common commit gets
//! `ACK continue`; with `multi_ack_detailed` each gets `ACK common`, `ACK ready` says when the
//! client may stop, and `no-done` lets the pack follow at once. Packs go through side-band when
//! the client asked for it. Shallow fetches (`deepen N`, as `git clone --depth` and Flux send)
//! are served: the history is cut N commits below each want and the client told where. Every length, count and line is checked: hostile input is an
//! [`Error`], never a panic.

use std::collections::HashSet;
use std::io::Read;

use gix::ObjectId;

use super::pack::{History, ShallowCut, ShallowRequest, sent, write_pack};
use super::pkt::{self, Pkt, Reader};
use super::repo::{MAIN_BRANCH, main_id};
use super::{Error, HostedRepo};

/// The content type of the `info/refs` answer.
pub const ADVERTISEMENT_CONTENT_TYPE: &str = "application/x-git-upload-pack-advertisement";
/// The content type of the `git-upload-pack` answer.
pub const RESULT_CONTENT_TYPE: &str = "application/x-git-upload-pack-result";
/// The largest request body (after gzip decoding) upload-pack accepts.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;

/// At most this many `want` lines in one request (a hosted repository has one branch).
const MAX_WANTS: usize = 256;
/// At most this many `have` lines in one request.
const MAX_HAVES: usize = 65_536;
/// At most this many `ref-prefix` arguments to `ls-refs`.
const MAX_REF_PREFIXES: usize = 256;

/// Side-band payload sizes: the packet limit less the length prefix and the band byte.
const SIDEBAND_64K_DATA: usize = pkt::MAX_PKT_LEN - 5;
const SIDEBAND_DATA: usize = 1000 - 5;

/// The capabilities offered to protocol v0/v1 clients, before `symref`, `object-format` and
/// `agent`.
const V0_CAPABILITIES: &str = "multi_ack multi_ack_detailed no-done side-band side-band-64k \
                               shallow no-progress allow-tip-sha1-in-want \
                               allow-reachable-sha1-in-want";

fn agent() -> String {
    format!("agent=gatehouse/{}", env!("CARGO_PKG_VERSION"))
}

/// The protocol version a client asked for in its `Git-Protocol` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V0,
    V1,
    V2,
}

fn version(git_protocol: Option<&str>) -> Version {
    let mut asked = Version::V0;
    for param in git_protocol.unwrap_or_default().split(':') {
        match param.trim() {
            "version=2" => return Version::V2,
            "version=1" => asked = Version::V1,
            _ => {}
        }
    }
    asked
}

/// Checks the `service` query parameter of `GET info/refs`: only `git-upload-pack` is served.
pub fn check_service(service: Option<&str>) -> Result<(), Error> {
    match service {
        Some("git-upload-pack") => Ok(()),
        Some(other) => Err(Error::ServiceRefused(other.to_owned())),
        None => Err(Error::protocol(
            "the dumb HTTP protocol is not offered: use a Git client that speaks smart HTTP (service=git-upload-pack)",
        )),
    }
}

/// Decodes a gzip request body (`Content-Encoding: gzip`), refusing more than `limit` bytes of
/// output.
pub fn decode_gzip(body: &[u8], limit: usize) -> Result<Vec<u8>, Error> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| Error::protocol(format!("the gzip request body cannot be decoded: {e}")))?;
    if out.len() > limit {
        return Err(Error::TooLarge(format!(
            "the request body is larger than {limit} bytes once decompressed"
        )));
    }
    Ok(out)
}

/// `GET /{repo}.git/info/refs?service=git-upload-pack`: the reference advertisement (serve it
/// as [`ADVERTISEMENT_CONTENT_TYPE`]). `git_protocol` is the `Git-Protocol` request header.
pub fn info_refs(repo: &HostedRepo, git_protocol: Option<&str>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    pkt::write_text(&mut out, "# service=git-upload-pack\n")?;
    pkt::flush(&mut out);
    let version = version(git_protocol);
    if version == Version::V2 {
        for line in [
            "version 2\n".to_owned(),
            format!("{}\n", agent()),
            "ls-refs=unborn\n".to_owned(),
            "fetch=shallow\n".to_owned(),
            "object-format=sha1\n".to_owned(),
        ] {
            pkt::write_text(&mut out, &line)?;
        }
        pkt::flush(&mut out);
        return Ok(out);
    }
    if version == Version::V1 {
        pkt::write_text(&mut out, "version 1\n")?;
    }
    let capabilities = format!(
        "{V0_CAPABILITIES} symref=HEAD:{MAIN_BRANCH} object-format=sha1 {}",
        agent()
    );
    match main_id(&repo.local())? {
        Some(id) => {
            pkt::write_text(&mut out, &format!("{id} HEAD\0{capabilities}\n"))?;
            pkt::write_text(&mut out, &format!("{id} {MAIN_BRANCH}\n"))?;
        }
        None => {
            let zero = ObjectId::null(gix::hash::Kind::Sha1);
            pkt::write_text(
                &mut out,
                &format!("{zero} capabilities^{{}}\0{capabilities}\n"),
            )?;
        }
    }
    pkt::flush(&mut out);
    Ok(out)
}

/// `POST /{repo}.git/git-upload-pack`: one stateless-RPC exchange, the (already decoded)
/// request body in, the answer out, to be written to the response (served as
/// [`RESULT_CONTENT_TYPE`]) with [`Answer::write_to`].
///
/// # Errors
///
/// When the request is malformed, asks for what is not served, or the repository cannot be
/// read; nothing has been sent then.
pub fn negotiate(
    repo: &HostedRepo,
    git_protocol: Option<&str>,
    body: &[u8],
) -> Result<Answer, Error> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(Error::TooLarge(format!(
            "the request body is {} bytes; the limit is {MAX_REQUEST_BYTES}",
            body.len()
        )));
    }
    let local = repo.local();
    match version(git_protocol) {
        Version::V2 => serve_v2(&local, body),
        Version::V0 | Version::V1 => serve_v0(&local, body),
    }
}

/// [`negotiate`], with the whole answer in memory.
///
/// # Errors
///
/// As [`negotiate`] and [`Answer::write_to`].
pub fn upload_pack(
    repo: &HostedRepo,
    git_protocol: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, Error> {
    negotiate(repo, git_protocol, body)?.into_bytes()
}

/// How the client wants its acknowledgments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum MultiAck {
    #[default]
    None,
    Plain,
    Detailed,
}

/// The capabilities a v0/v1 client chose on its first `want` line.
#[derive(Debug, Clone, Copy, Default)]
struct ClientCaps {
    multi_ack: MultiAck,
    no_done: bool,
    /// The side-band payload size, if the pack is multiplexed.
    sideband: Option<usize>,
}

impl ClientCaps {
    fn parse(words: &str) -> Result<ClientCaps, Error> {
        let mut caps = ClientCaps::default();
        for word in words.split_ascii_whitespace() {
            match word {
                "multi_ack" if caps.multi_ack == MultiAck::None => caps.multi_ack = MultiAck::Plain,
                "multi_ack_detailed" => caps.multi_ack = MultiAck::Detailed,
                "no-done" => caps.no_done = true,
                "side-band-64k" => caps.sideband = Some(SIDEBAND_64K_DATA),
                "side-band" if caps.sideband.is_none() => caps.sideband = Some(SIDEBAND_DATA),
                "object-format=sha1" => {}
                w if w.starts_with("object-format=") => {
                    return Err(Error::protocol(format!(
                        "{w} is not served: hosted repositories use sha1"
                    )));
                }
                // Everything else a client may name (agent, no-progress, ofs-delta, thin-pack,
                // include-tag, ...) only permits or informs; the pack sent needs none of it.
                _ => {}
            }
        }
        Ok(caps)
    }
}

fn parse_oid(hex: &str, what: &str) -> Result<ObjectId, Error> {
    let valid = hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid
        .then(|| ObjectId::from_hex(hex.as_bytes()).ok())
        .flatten()
        .ok_or_else(|| {
            Error::protocol(format!(
                "{what} names {:?}, which is not a SHA-1 object id",
                shorten(hex)
            ))
        })
}

/// A line as it may appear in an error message: at most 80 characters.
fn shorten(line: &str) -> String {
    let mut s: String = line.chars().take(80).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

fn deepen_refused() -> Error {
    Error::protocol(
        "only depth-limited shallow fetches are offered: use --depth instead of --shallow-since, --shallow-exclude or --deepen",
    )
}

/// Reads one `shallow <id>` or `deepen <n>` line into `request`; `Ok(false)` if it is neither.
fn shallow_line(line: &str, request: &mut ShallowRequest) -> Result<bool, Error> {
    if let Some(hex) = line.strip_prefix("shallow ") {
        if request.client.len() >= MAX_HAVES {
            return Err(Error::TooLarge(format!(
                "more than {MAX_HAVES} shallow lines in one request"
            )));
        }
        request.client.insert(parse_oid(hex, "a shallow line")?);
        Ok(true)
    } else if let Some(n) = line.strip_prefix("deepen ") {
        let depth = n
            .parse::<u32>()
            .ok()
            .filter(|d| *d > 0)
            .ok_or_else(|| Error::protocol(format!("invalid depth {:?}", shorten(n))))?;
        request.depth = Some(depth);
        Ok(true)
    } else if line.starts_with("deepen") {
        Err(deepen_refused())
    } else {
        Ok(false)
    }
}

fn filter_refused() -> Error {
    Error::protocol("partial clone filters are not offered: clone without --filter")
}

/// Checks the wanted commits: each must be a commit of `main`'s history.
fn check_wants(history: &History, wants: &mut Vec<ObjectId>) -> Result<(), Error> {
    let mut seen = HashSet::new();
    wants.retain(|w| seen.insert(*w));
    for want in wants.iter() {
        if !history.contains(want) {
            return Err(Error::protocol(format!(
                "not our ref {want}: only commits of main can be fetched (was main rewritten? fetch again)"
            )));
        }
    }
    Ok(())
}

/// Appends the `shallow`/`unshallow` lines of `cut`.
fn write_shallow_lines(out: &mut Vec<u8>, cut: &ShallowCut) -> Result<(), Error> {
    for id in &cut.shallow {
        pkt::write_text(out, &format!("shallow {id}\n"))?;
    }
    for id in &cut.unshallow {
        pkt::write_text(out, &format!("unshallow {id}\n"))?;
    }
    Ok(())
}

/// What one fetch asks for, once negotiated.
struct PackRequest<'a> {
    wants: &'a [ObjectId],
    common: &'a HashSet<ObjectId>,
    cut: &'a ShallowCut,
}

/// The answer to one upload-pack request: the negotiation's lines, then, for a fetch, the
/// pack. The objects to send are settled when the answer is made (so a request that cannot be
/// served fails before anything is sent); the pack itself is written by [`Answer::write_to`],
/// as it is sent, one object in memory at a time.
#[derive(Debug)]
pub struct Answer {
    lines: Vec<u8>,
    pack: Option<PackPlan>,
}

#[derive(Debug)]
struct PackPlan {
    repo: gix::Repository,
    objects: Vec<ObjectId>,
    /// The side-band packet size, when the client multiplexes.
    sideband: Option<usize>,
}

impl Answer {
    fn lines(lines: Vec<u8>) -> Answer {
        Answer { lines, pack: None }
    }

    fn with_pack(
        lines: Vec<u8>,
        repo: &gix::Repository,
        history: &History,
        request: &PackRequest<'_>,
        sideband: Option<usize>,
    ) -> Result<Answer, Error> {
        let objects = history.objects_to_send(repo, request.wants, request.common, request.cut)?;
        Ok(Answer {
            lines,
            pack: Some(PackPlan {
                repo: repo.clone(),
                objects,
                sideband,
            }),
        })
    }

    /// How many objects the pack holds (none when the answer carries no pack).
    pub fn objects(&self) -> usize {
        self.pack.as_ref().map_or(0, |p| p.objects.len())
    }

    /// Writes the answer to `out`: the lines, then the pack (multiplexed on band 1 when the
    /// client asked for side-band). An error part-way leaves `out` with a truncated answer,
    /// which the client rejects.
    ///
    /// # Errors
    ///
    /// When an object cannot be read or `out` refuses the bytes.
    pub fn write_to(self, out: &mut dyn std::io::Write) -> Result<(), Error> {
        out.write_all(&self.lines).map_err(sent)?;
        let Some(pack) = self.pack else {
            return Ok(());
        };
        match pack.sideband {
            Some(max) => {
                let mut band = pkt::Sideband::new(out, 1, max);
                write_pack(&pack.repo, &pack.objects, &mut band)?;
                band.finish().map_err(sent)
            }
            None => write_pack(&pack.repo, &pack.objects, out),
        }
    }

    /// The whole answer in memory.
    ///
    /// # Errors
    ///
    /// As [`Answer::write_to`].
    pub fn into_bytes(self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

fn serve_v0(repo: &gix::Repository, body: &[u8]) -> Result<Answer, Error> {
    let mut reader = Reader::new(body);
    let mut wants = Vec::new();
    let mut caps = ClientCaps::default();
    let mut shallow = ShallowRequest::default();
    loop {
        match reader.next_pkt()? {
            None if wants.is_empty() => return Ok(Answer::lines(Vec::new())),
            None => {
                return Err(Error::protocol(
                    "the request ends before the flush that closes the list of wanted commits",
                ));
            }
            Some(Pkt::Flush) => break,
            Some(Pkt::Line(line)) => {
                let line = pkt::text(line, "a want line")?;
                if let Some(rest) = line.strip_prefix("want ") {
                    let (hex, words) = rest.split_once(' ').unwrap_or((rest, ""));
                    if wants.is_empty() {
                        caps = ClientCaps::parse(words)?;
                    }
                    wants.push(parse_oid(hex, "a want line")?);
                    if wants.len() > MAX_WANTS {
                        return Err(Error::TooLarge(format!(
                            "more than {MAX_WANTS} wanted objects in one request"
                        )));
                    }
                } else if shallow_line(line, &mut shallow)? {
                    continue;
                } else if line.starts_with("filter ") {
                    return Err(filter_refused());
                } else {
                    return Err(Error::protocol(format!(
                        "unexpected line among the wanted commits: {:?}",
                        shorten(line)
                    )));
                }
            }
            Some(other) => {
                return Err(Error::protocol(format!(
                    "unexpected {other:?} packet among the wanted commits"
                )));
            }
        }
    }
    if wants.is_empty() {
        return Ok(Answer::lines(Vec::new()));
    }
    let history = History::load(repo)?;
    check_wants(&history, &mut wants)?;
    let cut = history.shallow_cut(&wants, &shallow);

    let mut out = Vec::new();
    if shallow.deepens() {
        write_shallow_lines(&mut out, &cut)?;
        pkt::flush(&mut out);
    }
    let mut common = HashSet::new();
    let mut last_common: Option<ObjectId> = None;
    let (mut got_common, mut got_other, mut sent_ready) = (false, false, false);
    let mut haves = 0usize;
    // Whether the client may stop negotiating; recomputed only when `common` grows.
    let mut ready: Option<bool> = None;
    let is_ready = |common: &HashSet<ObjectId>, ready: &mut Option<bool>| -> bool {
        *ready.get_or_insert_with(|| history.all_reach(&wants, common))
    };
    loop {
        match reader.next_pkt()? {
            // A shallow client's first stateless request only asks where the history is cut.
            None if shallow.deepens() && haves == 0 => return Ok(Answer::lines(out)),
            None => {
                return Err(Error::protocol(
                    "the request ends without a flush or \"done\" after the common commits",
                ));
            }
            Some(Pkt::Flush) => {
                if caps.multi_ack == MultiAck::Detailed
                    && got_common
                    && !got_other
                    && is_ready(&common, &mut ready)
                    && let Some(last) = last_common
                {
                    sent_ready = true;
                    pkt::write_text(&mut out, &format!("ACK {last} ready\n"))?;
                }
                if common.is_empty() || caps.multi_ack != MultiAck::None {
                    pkt::write_text(&mut out, "NAK\n")?;
                }
                if caps.no_done
                    && sent_ready
                    && let Some(last) = last_common
                {
                    pkt::write_text(&mut out, &format!("ACK {last}\n"))?;
                    break;
                }
                // Stateless RPC: one negotiation round per request.
                return Ok(Answer::lines(out));
            }
            Some(Pkt::Line(line)) => {
                let line = pkt::text(line, "a have line")?;
                if line == "done" {
                    match last_common {
                        Some(last) if caps.multi_ack != MultiAck::None => {
                            pkt::write_text(&mut out, &format!("ACK {last}\n"))?;
                        }
                        Some(_) => {}
                        None => pkt::write_text(&mut out, "NAK\n")?,
                    }
                    break;
                }
                let Some(hex) = line.strip_prefix("have ") else {
                    return Err(Error::protocol(format!(
                        "expected \"have\" or \"done\", got {:?}",
                        shorten(line)
                    )));
                };
                haves += 1;
                if haves > MAX_HAVES {
                    return Err(Error::TooLarge(format!(
                        "more than {MAX_HAVES} have lines in one request"
                    )));
                }
                let id = parse_oid(hex, "a have line")?;
                if history.contains(&id) {
                    got_common = true;
                    last_common = Some(id);
                    let new = common.insert(id);
                    if new {
                        ready = None;
                    }
                    match caps.multi_ack {
                        MultiAck::Detailed => {
                            pkt::write_text(&mut out, &format!("ACK {id} common\n"))?;
                        }
                        MultiAck::Plain => {
                            pkt::write_text(&mut out, &format!("ACK {id} continue\n"))?;
                        }
                        MultiAck::None if new && common.len() == 1 => {
                            pkt::write_text(&mut out, &format!("ACK {id}\n"))?;
                        }
                        MultiAck::None => {}
                    }
                } else {
                    got_other = true;
                    if caps.multi_ack != MultiAck::None && is_ready(&common, &mut ready) {
                        if caps.multi_ack == MultiAck::Detailed {
                            sent_ready = true;
                            pkt::write_text(&mut out, &format!("ACK {id} ready\n"))?;
                        } else {
                            pkt::write_text(&mut out, &format!("ACK {id} continue\n"))?;
                        }
                    }
                }
            }
            Some(other) => {
                return Err(Error::protocol(format!(
                    "unexpected {other:?} packet among the common commits"
                )));
            }
        }
    }
    let request = PackRequest {
        wants: &wants,
        common: &common,
        cut: &cut,
    };
    Answer::with_pack(out, repo, &history, &request, caps.sideband)
}

fn serve_v2(repo: &gix::Repository, body: &[u8]) -> Result<Answer, Error> {
    let mut reader = Reader::new(body);
    let command = match reader.next_pkt()? {
        Some(Pkt::Line(line)) => {
            let line = pkt::text(line, "the command line")?;
            line.strip_prefix("command=")
                .ok_or_else(|| {
                    Error::protocol(format!(
                        "a protocol v2 request starts with command=, not {:?}",
                        shorten(line)
                    ))
                })?
                .to_owned()
        }
        None => return Err(Error::protocol("the request is empty")),
        Some(other) => {
            return Err(Error::protocol(format!(
                "a protocol v2 request starts with a command, not a {other:?} packet"
            )));
        }
    };
    let has_args = loop {
        match reader.next_pkt()? {
            Some(Pkt::Line(line)) => {
                let line = pkt::text(line, "a capability line")?;
                if let Some(format) = line.strip_prefix("object-format=") {
                    if format != "sha1" {
                        return Err(Error::protocol(format!(
                            "object-format={} is not served: hosted repositories use sha1",
                            shorten(format)
                        )));
                    }
                } else if !(line.starts_with("agent=")
                    || line.starts_with("session-id=")
                    || line.starts_with("server-option="))
                {
                    return Err(Error::protocol(format!(
                        "unknown capability {:?}",
                        shorten(line)
                    )));
                }
            }
            Some(Pkt::Delim) => break true,
            Some(Pkt::Flush) => break false,
            None => return Err(Error::protocol("the request ends inside its capabilities")),
            Some(Pkt::ResponseEnd) => {
                return Err(Error::protocol(
                    "unexpected response-end packet in a request",
                ));
            }
        }
    };
    let mut args = Vec::new();
    if has_args {
        loop {
            match reader.next_pkt()? {
                Some(Pkt::Line(line)) => {
                    if args.len() >= MAX_WANTS + MAX_HAVES + 16 {
                        return Err(Error::TooLarge("too many arguments in one request".into()));
                    }
                    args.push(pkt::text(line, "an argument line")?);
                }
                Some(Pkt::Flush) => break,
                None => return Err(Error::protocol("the request ends inside its arguments")),
                Some(other) => {
                    return Err(Error::protocol(format!(
                        "unexpected {other:?} packet among the arguments"
                    )));
                }
            }
        }
    }
    if reader.next_pkt()?.is_some() {
        return Err(Error::protocol(
            "one command per request: data follows the closing flush",
        ));
    }
    match command.as_str() {
        "ls-refs" => ls_refs(repo, &args).map(Answer::lines),
        "fetch" => fetch(repo, &args),
        other => Err(Error::protocol(format!(
            "the command {:?} is not offered (ls-refs and fetch are)",
            shorten(other)
        ))),
    }
}

fn ls_refs(repo: &gix::Repository, args: &[&str]) -> Result<Vec<u8>, Error> {
    let (mut symrefs, mut unborn) = (false, false);
    let mut prefixes = Vec::new();
    for arg in args {
        match *arg {
            "symrefs" => symrefs = true,
            "unborn" => unborn = true,
            "peel" => {}
            a => match a.strip_prefix("ref-prefix ") {
                Some(prefix) if prefixes.len() < MAX_REF_PREFIXES => prefixes.push(prefix),
                Some(_) => {
                    return Err(Error::TooLarge(format!(
                        "more than {MAX_REF_PREFIXES} ref-prefix arguments"
                    )));
                }
                None => {
                    return Err(Error::protocol(format!(
                        "unexpected ls-refs argument {:?}",
                        shorten(a)
                    )));
                }
            },
        }
    }
    let listed = |name: &str| prefixes.is_empty() || prefixes.iter().any(|p| name.starts_with(p));
    let symref = if symrefs {
        format!(" symref-target:{MAIN_BRANCH}")
    } else {
        String::new()
    };
    let mut out = Vec::new();
    let head = main_id(repo)?;
    if listed("HEAD") {
        match head {
            Some(id) => pkt::write_text(&mut out, &format!("{id} HEAD{symref}\n"))?,
            None if unborn => pkt::write_text(&mut out, &format!("unborn HEAD{symref}\n"))?,
            None => {}
        }
    }
    if let Some(id) = head
        && listed(MAIN_BRANCH)
    {
        pkt::write_text(&mut out, &format!("{id} {MAIN_BRANCH}\n"))?;
    }
    pkt::flush(&mut out);
    Ok(out)
}

fn fetch(repo: &gix::Repository, args: &[&str]) -> Result<Answer, Error> {
    let mut wants = Vec::new();
    let mut haves = Vec::new();
    let mut shallow = ShallowRequest::default();
    let (mut done, mut wait_for_done) = (false, false);
    for arg in args {
        match *arg {
            "done" => done = true,
            "wait-for-done" => wait_for_done = true,
            "thin-pack" | "no-progress" | "include-tag" | "ofs-delta" => {}
            a if a.starts_with("filter ") => return Err(filter_refused()),
            a => {
                if shallow_line(a, &mut shallow)? {
                    continue;
                }
                if let Some(hex) = a.strip_prefix("want ") {
                    wants.push(parse_oid(hex, "a want line")?);
                    if wants.len() > MAX_WANTS {
                        return Err(Error::TooLarge(format!(
                            "more than {MAX_WANTS} wanted objects in one request"
                        )));
                    }
                } else if let Some(hex) = a.strip_prefix("have ") {
                    haves.push(parse_oid(hex, "a have line")?);
                    if haves.len() > MAX_HAVES {
                        return Err(Error::TooLarge(format!(
                            "more than {MAX_HAVES} have lines in one request"
                        )));
                    }
                } else {
                    return Err(Error::protocol(format!(
                        "unexpected fetch argument {:?} (this server offers no fetch features)",
                        shorten(a)
                    )));
                }
            }
        }
    }
    if wants.is_empty() {
        return Err(Error::protocol("the fetch request wants nothing"));
    }
    let history = History::load(repo)?;
    check_wants(&history, &mut wants)?;
    let mut common = HashSet::new();
    let mut acks = Vec::new();
    for have in haves {
        if history.contains(&have) && common.insert(have) {
            acks.push(have);
        }
    }
    let mut out = Vec::new();
    if !done {
        pkt::write_text(&mut out, "acknowledgments\n")?;
        if acks.is_empty() {
            pkt::write_text(&mut out, "NAK\n")?;
        }
        for id in &acks {
            pkt::write_text(&mut out, &format!("ACK {id}\n"))?;
        }
        if wait_for_done || !history.all_reach(&wants, &common) {
            pkt::flush(&mut out);
            return Ok(Answer::lines(out));
        }
        pkt::write_text(&mut out, "ready\n")?;
        pkt::delim(&mut out);
    }
    let cut = history.shallow_cut(&wants, &shallow);
    if shallow.is_shallow() {
        pkt::write_text(&mut out, "shallow-info\n")?;
        write_shallow_lines(&mut out, &cut)?;
        pkt::delim(&mut out);
    }
    pkt::write_text(&mut out, "packfile\n")?;
    let request = PackRequest {
        wants: &wants,
        common: &common,
        cut: &cut,
    };
    Answer::with_pack(out, repo, &history, &request, Some(SIDEBAND_64K_DATA))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_git_protocol_header_selects_the_version() {
        assert_eq!(version(None), Version::V0);
        assert_eq!(version(Some("version=2")), Version::V2);
        assert_eq!(version(Some("foo=bar:version=1")), Version::V1);
        assert_eq!(version(Some("version=3")), Version::V0);
    }

    #[test]
    fn gzip_bodies_are_decoded_within_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'0'; 10_000]).unwrap();
        let compressed = gz.finish().unwrap();
        assert_eq!(decode_gzip(&compressed, 10_000).unwrap().len(), 10_000);
        assert!(matches!(
            decode_gzip(&compressed, 9_999),
            Err(Error::TooLarge(_))
        ));
        assert!(decode_gzip(b"not gzip", 100).is_err());
    }

    #[test]
    fn only_upload_pack_is_served() {
        assert!(check_service(Some("git-upload-pack")).is_ok());
        assert!(matches!(
            check_service(Some("git-receive-pack")),
            Err(Error::ServiceRefused(_))
        ));
        assert!(check_service(None).is_err());
    }
}
