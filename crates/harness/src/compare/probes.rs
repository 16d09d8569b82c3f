//! What the harness reads about a server and the machine: `/proc` samples, `strace -c` tables,
//! the server's own exit line, and the machine description.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::results::Machine;
use crate::sys;

/// `served N requests on M connections` → N.
pub fn parse_served(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("served ")?;
        let (n, tail) = rest.split_once(' ')?;
        tail.starts_with("requests")
            .then(|| n.parse().ok())
            .flatten()
    })
}

/// Figures read from /proc at one instant.
#[derive(Debug, Clone)]
pub struct ProcSample {
    pub cpu_seconds: f64,
    /// User-mode part of `cpu_seconds`.
    pub user_seconds: f64,
    /// Kernel-mode part of `cpu_seconds` (syscalls, and completion work done in the kernel).
    pub system_seconds: f64,
    /// Busy and stolen time of the server's CPUs (all processes, summed), from /proc/stat.
    pub server_cpu: Option<CpuTimes>,
    /// CPU time of the whole process in nanoseconds, from its CPU clock: precise, and it
    /// counts threads that exited (None if the clock could not be read).
    pub cpu_ns: Option<u64>,
    pub context_switches: u64,
    pub tids: Vec<u32>,
    pub threads: u64,
    pub peak_rss_kib: u64,
}

impl ProcSample {
    /// Sample `pid` now (and the busy time of `server_cpus`, if pinned).
    pub fn take(pid: u32, server_cpus: &[usize]) -> Option<ProcSample> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which is in parentheses and may contain spaces).
        let after_comm = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: indexes 11 and 12 here. For a
        // process they include all its threads, even those that exited.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let mut context_switches = 0;
        let mut tids = Vec::new();
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let Some(tid) = task
                    .file_name()
                    .to_str()
                    .and_then(|t| t.parse::<u32>().ok())
                else {
                    continue;
                };
                tids.push(tid);
                if let Ok(s) = fs::read_to_string(task.path().join("status")) {
                    for line in s.lines() {
                        if let Some(v) = line
                            .strip_prefix("voluntary_ctxt_switches:")
                            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                        {
                            context_switches += v.trim().parse::<u64>().unwrap_or(0);
                        }
                    }
                }
            }
        }
        Some(ProcSample {
            cpu_seconds: (utime + stime) / sys::clock_ticks(),
            user_seconds: utime / sys::clock_ticks(),
            system_seconds: stime / sys::clock_ticks(),
            server_cpu: cpu_set_times(server_cpus),
            // Nanoseconds, not the 10 ms clock ticks of utime/stime.
            cpu_ns: sys::process_cpu_ns(pid).ok(),
            context_switches,
            tids,
            threads: field("Threads:").unwrap_or(0),
            peak_rss_kib: field("VmHWM:").unwrap_or(0),
        })
    }
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// What one CPU did since boot, from `/proc/stat`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    /// Everything but idle and iowait (steal included).
    pub busy: f64,
    /// Time a hypervisor ran something else while this virtual CPU wanted to run (0 on bare
    /// metal).
    pub steal: f64,
}

/// The busy and stolen time of a set of CPUs since boot, summed (None for an empty set).
pub fn cpu_set_times(cpus: &[usize]) -> Option<CpuTimes> {
    if cpus.is_empty() {
        return None;
    }
    let stat = fs::read_to_string("/proc/stat").ok()?;
    cpus.iter().try_fold(
        CpuTimes {
            busy: 0.0,
            steal: 0.0,
        },
        |sum, &cpu| {
            let t = parse_cpu_times(&stat, cpu)?;
            Some(CpuTimes {
                busy: sum.busy + t.busy,
                steal: sum.steal + t.steal,
            })
        },
    )
}

/// The `cpuN` line of a `/proc/stat` text: user nice system idle iowait irq softirq steal guest
/// guest_nice (`proc(5)`); guest time is already included in user.
fn parse_cpu_times(stat: &str, cpu: usize) -> Option<CpuTimes> {
    let prefix = format!("cpu{cpu} ");
    let line = stat.lines().find(|l| l.starts_with(&prefix))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    let steal = fields.get(7).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: busy as f64 / sys::clock_ticks(),
        steal: steal as f64 / sys::clock_ticks(),
    })
}

/// CPU time of this process (the load generator: its load threads and the idle main thread),
/// and of the CPU the load runs on.
#[derive(Debug, Clone, Copy)]
pub struct ClientSample {
    /// User + system seconds of this process.
    pub cpu_seconds: f64,
    /// The load CPUs' busy and stolen time, summed.
    pub load_cpu: Option<CpuTimes>,
}

impl ClientSample {
    /// Sample now.
    pub fn take(load_cpus: &[usize]) -> Option<ClientSample> {
        let stat = fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some(ClientSample {
            cpu_seconds: (utime + stime) / sys::clock_ticks(),
            load_cpu: cpu_set_times(load_cpus),
        })
    }
}

/// Parse the table `strace -c` prints: `% time seconds usecs/call calls [errors] syscall`.
pub fn parse_strace_summary(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
            continue; // header, separator, or a line strace wrote about the tracee
        }
        let Some(&name) = fields.last() else { continue };
        if name == "total" {
            continue;
        }
        if let Ok(calls) = fields[3].parse::<u64>() {
            *counts.entry(name.to_string()).or_insert(0) += calls;
        }
    }
    counts
}

/// Direct children of `pid` (from /proc/<pid>/task/*/children).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(list) = fs::read_to_string(task.path().join("children")) {
                out.extend(
                    list.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The machine this run is on.
pub fn machine_info(cpus: usize, fd_limit: u64, nginx: Option<String>) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Machine {
        host,
        cpu_model,
        cpus,
        kernel,
        glibc: command_line("ldd", &["--version"]),
        rustc: command_line("rustc", &["--version"]),
        nginx,
        fd_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_line_gives_busy_without_idle_and_iowait_and_its_steal() {
        let stat = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 100 0 50 1000 20 5 5 40 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n";
        let hz = sys::clock_ticks();
        let t = parse_cpu_times(stat, 0).expect("cpu0");
        assert_eq!(t.busy, 200.0 / hz, "user+nice+system+irq+softirq+steal");
        assert_eq!(t.steal, 40.0 / hz);
        assert_eq!(parse_cpu_times(stat, 1).map(|t| t.steal), Some(1.0 / hz));
        assert_eq!(parse_cpu_times(stat, 2), None);
    }

    #[test]
    fn strace_summary_is_parsed_with_and_without_errors_column() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 45.10    0.012345           3      4000           write
 30.00    0.008000           2      4001        12 read
  1.00    0.000100          10        10           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.020445           2      8011        12 total
";
        let counts = parse_strace_summary(text);
        assert_eq!(counts.get("write"), Some(&4000));
        assert_eq!(counts.get("read"), Some(&4001));
        assert_eq!(counts.get("epoll_wait"), Some(&10));
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn served_line_is_found() {
        let stderr = "warning: x\nserved 1234 requests on 56 connections\n";
        assert_eq!(parse_served(stderr), Some(1234));
        assert_eq!(parse_served("nothing"), None);
    }
}
