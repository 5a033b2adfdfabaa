//! What the benchmarks share (`make bench-scale`, `make bench-org`): the release
//! controller as a child process whose AWS calls the bed's proxy counts, its memory and
//! CPU, its metrics page, the calls by kind, and the tables the figures are printed in.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kube::Api;
use serde_json::Value;

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v} does not parse")),
        _ => default,
    }
}

pub fn bed_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run this through `make bench-scale` or `make bench-org`"))
}

// ---------------------------------------------------------------------------------------
// The controller process

/// The release controller as a child process; killed when dropped.
pub struct Controller {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub http: String,
    pub client_id: String,
    pub log: std::path::PathBuf,
}

impl Controller {
    pub async fn start(bin: &str, queue_url: &str, log: std::path::PathBuf) -> Self {
        Self::start_selecting(bin, queue_url, log, None).await
    }

    /// A controller that manages only the policies `selector` (a label selector) selects.
    pub async fn start_selecting(bin: &str, queue_url: &str, log: std::path::PathBuf, selector: Option<&str>) -> Self {
        let http = format!("127.0.0.1:{}", free_port());
        let client_id = crate::support::unique_name("bench-ctl");
        let out = std::fs::File::create(&log).expect("controller log file");
        let mut command = tokio::process::Command::new(bin);
        command.args(["run", "--http-addr", &http, "--events-queue-url", queue_url]);
        if let Some(selector) = selector {
            command.args(["--selector", selector]);
        }
        // An allocator to try, preloaded into the controller alone (say mimalloc's .so).
        if let Ok(preload) = std::env::var("BENCH_LD_PRELOAD") {
            command.env("LD_PRELOAD", preload);
        }
        let child = command
            .env("TRAILWARDEN_AWS_ENDPOINT", bed_env("TRAILWARDEN_FAULTY_AWS_ENDPOINT"))
            .env("AWS_SDK_UA_APP_ID", &client_id)
            .env("NO_COLOR", "1")
            .env_remove("TRAILWARDEN_SELECTOR")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let pid = child.id().expect("controller pid");
        let mut controller = Controller { child, pid, http, client_id, log };
        let started = Instant::now();
        while !curl_ok(&format!("http://{}/readyz", controller.http)) {
            if let Ok(Some(status)) = controller.child.try_wait() {
                panic!("the controller exited ({status}) before it was ready; log: {}\n{}", controller.log.display(), tail(&controller.log, 30));
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the controller not ready within 60 s; log:\n{}", tail(&controller.log, 30));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        controller
    }

    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("/proc/PID/status");
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{key} missing from /proc/{}/status", self.pid))
        };
        let heap_in_use_kib = self
            .metrics()
            .lines()
            .find_map(|l| l.strip_prefix("trailwarden_heap_allocated_bytes "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|bytes| bytes / 1024);
        Memory { rss_kib: kib("VmRSS:"), hwm_kib: kib("VmHWM:"), anon_kib: kib("RssAnon:"), file_kib: kib("RssFile:"), heap_in_use_kib }
    }

    /// Resets the peak resident size (VmHWM) to the current one, so that a later peak is
    /// of what came after (Linux 4.0 and later: `clear_refs` 5).
    pub fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").expect("reset VmHWM through /proc/PID/clear_refs");
    }

    /// utime + stime so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("/proc/PID/stat");
        // Fields after the command name (in parentheses, which may hold spaces): state is
        // field 3, utime 14 and stime 15.
        let rest = &stat[stat.rfind(')').expect("stat has (comm)") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / clock_ticks()
    }

    pub fn metrics(&self) -> String {
        curl(&format!("http://{}/metrics", self.http))
    }

    /// The controller's AWS calls so far by "Service/Operation" (cumulative).
    pub fn calls(&self) -> Calls {
        let control = bed_env("TRAILWARDEN_FAULT_CONTROL");
        let base = control.trim_end_matches("/__faults");
        // `since` in the future leaves the write log out: the counts are what we need.
        let body = curl(&format!("{base}/__stats?client={}&since=99999999999", self.client_id));
        let stats: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("proxy stats: {e}: {body}"));
        let mut calls = Calls::default();
        for (op, counts) in stats["operations"].as_object().expect("operations") {
            calls.0.insert(op.clone(), counts["requests"].as_u64().unwrap_or(0));
        }
        calls
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Event writes so far in the policies' namespace: each Event created, and each repeat the
/// recorder counted into one.
pub async fn event_count(client: &kube::Client) -> u64 {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = events.list(&kube::api::ListParams::default()).await.expect("list Events");
    list.items.iter().map(|e| e.series.as_ref().and_then(|s| s.count).or(e.count).unwrap_or(1).max(1) as u64).sum()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn curl(url: &str) -> String {
    let out = std::process::Command::new("curl").args(["-sS", "--max-time", "30", url]).output().expect("curl runs");
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn curl_ok(url: &str) -> bool {
    std::process::Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "--max-time", "2", url])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn clock_ticks() -> f64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("getconf runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("CLK_TCK")
}

pub fn tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[derive(Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    /// Of the RSS: the heap, stacks and other private memory.
    pub anon_kib: u64,
    /// Of the RSS: the pages of the binary (and libraries) mapped from their files.
    pub file_kib: u64,
    /// Of the heap: what the controller had allocated and not freed at its last trim
    /// (`trailwarden_heap_allocated_bytes`, every 30 s); the rest of the private pages
    /// are stacks and what the allocator keeps.
    pub heap_in_use_kib: Option<u64>,
}

/// The RSS, and of it the private (heap) and file-mapped (binary) pages.
pub fn rss(memory: &Memory) -> String {
    let in_use = memory.heap_in_use_kib.map(|kib| format!(", {} in use at the last trim", mib(kib))).unwrap_or_default();
    format!("{} ({} heap and stacks{in_use}, {} binary)", mib(memory.rss_kib), mib(memory.anon_kib), mib(memory.file_kib))
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The sum of a counter's samples in a Prometheus text page (all label sets).
pub fn metric_sum(page: &str, name: &str, label_filter: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter(|l| l.contains(label_filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Non-zero samples of a counter, as `labels value` lines.
pub fn metric_samples(page: &str, name: &str) -> Vec<String> {
    page.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{')))
        .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).is_some_and(|v| v > 0.0))
        .map(|l| l[name.len()..].to_owned())
        .collect()
}

/// The controller's own count of AWS calls that failed (404s of absent bucket settings
/// included), by operation and outcome, most frequent first.
pub fn failed_calls(page: &str) -> String {
    let name = "trailwarden_aws_requests_total{";
    let mut failed: Vec<(u64, String)> = page
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter(|l| !l.contains("outcome=\"success\""))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            let n = value.parse::<f64>().ok()? as u64;
            let label = |key: &str| labels.split(&format!("{key}=\"")).nth(1)?.split('"').next().map(str::to_owned);
            let what = format!("{}/{} {}", label("service")?, label("operation")?, label("outcome")?);
            (n > 0).then_some((n, what))
        })
        .collect();
    failed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if failed.is_empty() {
        return "none".into();
    }
    failed.iter().map(|(n, what)| format!("{what} {n}")).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------
// Calls

/// AWS calls by "Service/Operation".
#[derive(Clone, Default)]
pub struct Calls(pub BTreeMap<String, u64>);

/// How a call is listed: the proxy's rule for writes (fault_proxy.is_write), with STS and
/// the event queue (SQS) apart.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum Kind {
    Read,
    Write,
    Sts,
    Queue,
}

pub fn kind(op: &str) -> Kind {
    let (service, operation) = op.split_once('/').unwrap_or(("", op));
    if service == "STS" {
        Kind::Sts
    } else if service == "SQS" {
        Kind::Queue
    } else if ["Describe", "Get", "List", "Lookup", "Head"].iter().any(|p| operation.starts_with(p)) {
        Kind::Read
    } else {
        Kind::Write
    }
}

impl Calls {
    pub fn since(&self, earlier: &Calls) -> Calls {
        Calls(
            self.0
                .iter()
                .map(|(op, n)| (op.clone(), n - earlier.0.get(op).copied().unwrap_or(0)))
                .filter(|(_, n)| *n > 0)
                .collect(),
        )
    }

    pub fn of(&self, k: Kind) -> u64 {
        self.0.iter().filter(|(op, _)| kind(op) == k).map(|(_, n)| n).sum()
    }

    /// Every call but the event queue's.
    pub fn aws(&self) -> u64 {
        self.0.iter().filter(|(op, _)| kind(op) != Kind::Queue).map(|(_, n)| n).sum()
    }

    pub fn list(&self, k: Kind) -> String {
        let ops: Vec<String> = self.0.iter().filter(|(op, _)| kind(op) == k).map(|(op, n)| format!("{op} {n}")).collect();
        if ops.is_empty() { "none".into() } else { ops.join(", ") }
    }
}

// ---------------------------------------------------------------------------------------
// Figures

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub struct Table(pub Vec<(String, String)>);

impl Table {
    pub fn row(&mut self, figure: impl Into<String>, value: impl Into<String>) {
        self.0.push((figure.into(), value.into()));
    }

    pub fn render(&self) -> String {
        let width = self.0.iter().map(|(f, _)| f.chars().count()).max().unwrap_or(6).max(6);
        let vwidth = self.0.iter().map(|(_, v)| v.chars().count()).max().unwrap_or(5).max(5);
        let mut out = format!("| {:<width$} | {:<vwidth$} |\n|{}|{}|\n", "figure", "value", "-".repeat(width + 2), "-".repeat(vwidth + 2));
        for (f, v) in &self.0 {
            let _ = writeln!(out, "| {f:<width$} | {v:<vwidth$} |");
        }
        out
    }
}

pub fn by_operation(phases: &[(&str, &Calls)]) -> String {
    let mut ops: Vec<&String> = phases.iter().flat_map(|(_, c)| c.0.keys()).collect();
    ops.sort();
    ops.dedup();
    let width = ops.iter().map(|o| o.len()).max().unwrap_or(9).max(9) + 4;
    let mut out = format!("| {:<width$} |", "operation");
    for (name, _) in phases {
        let _ = write!(out, " {name:>11} |");
    }
    let _ = write!(out, "\n|{}|", "-".repeat(width + 2));
    for _ in phases {
        out.push_str(&format!("{}:|", "-".repeat(12)));
    }
    out.push('\n');
    let tag = |op: &str| match kind(op) {
        Kind::Write => " (w)",
        Kind::Sts => " (s)",
        Kind::Queue => " (q)",
        Kind::Read => "",
    };
    for op in &ops {
        let _ = write!(out, "| {:<width$} |", format!("{op}{}", tag(op)));
        for (_, calls) in phases {
            let _ = write!(out, " {:>11} |", calls.0.get(*op).copied().unwrap_or(0));
        }
        out.push('\n');
    }
    let _ = write!(out, "| {:<width$} |", "total");
    for (_, calls) in phases {
        let _ = write!(out, " {:>11} |", calls.0.values().sum::<u64>());
    }
    out.push_str("\n(w) write, (s) STS, (q) the event queue; the rest are reads. Each column counts everything the\n");
    out.push_str("controller called in that phase, the resync's passes included (they run during the event cycles too).\n");
    out
}

/// A log line without its terminal colours.
pub fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What a WARN or ERROR line says, without the policy it is about: its level, its message
/// and its `reason=` and the head of its `error=` fields (text format), or None.
pub fn log_kind(line: &str) -> Option<String> {
    let line = plain(line);
    let level = ["ERROR", "WARN"].into_iter().find(|l| line.contains(&format!(" {l} ")))?;
    // The message follows the event's target ("trailwarden::module: ").
    let start = line.find(" trailwarden::").map_or(0, |i| i + 1);
    let rest = &line[start..];
    let rest = rest.find(": ").map_or(rest, |i| &rest[i + 2..]);
    let message: Vec<&str> = rest.split(' ').take_while(|w| !w.contains('=')).collect();
    let field = |key: &str| {
        let at = rest.find(&format!(" {key}="))? + key.len() + 2;
        let value = &rest[at..];
        let end = match value.strip_prefix('"') {
            Some(quoted) => quoted.find('"').map(|i| i + 2),
            None => value.find(": ").or(value.find(' ')),
        };
        Some(value[..end.unwrap_or(value.len()).min(value.len())].to_owned())
    };
    let mut kind = format!("{level} {}", message.join(" "));
    if let Some(reason) = field("reason") {
        kind += &format!(" reason={reason}");
    }
    if let Some(error) = field("error") {
        kind += &format!(" error={}", error.chars().take(80).collect::<String>());
    }
    Some(kind)
}

/// WARN and ERROR lines of the controller's log, counted by kind, most frequent first.
pub fn log_summary(path: &std::path::Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for kind in text.lines().filter_map(log_kind) {
        *kinds.entry(kind).or_default() += 1;
    }
    let mut kinds: Vec<(String, usize)> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    kinds
}

