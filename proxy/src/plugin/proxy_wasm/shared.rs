//! What proxy-wasm filter instances share through the host: key/value data with
//! compare-and-swap versions and named queues, both per VM id (as Envoy scopes them, so filters
//! configured with the same `vm_id` share them) and kept across reloads; and the metrics each
//! filter defines. Everything is bounded: a filter cannot grow the gateway's memory without limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use dashmap::DashMap;
use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::sync::mpsc::UnboundedSender;

use super::abi::{MetricType, Status};
use crate::metrics::METRICS;
use crate::plugin::lock;

/// Longest shared-data key.
const MAX_KEY: usize = 1024;
/// Largest shared-data value, and largest queue item.
const MAX_VALUE: usize = 1 << 20;
/// Most bytes of shared data per VM id.
const MAX_DATA_BYTES: usize = 64 << 20;
/// Most shared-data keys per VM id.
const MAX_KEYS: usize = 100_000;
/// Most queues per VM id.
const MAX_QUEUES: usize = 64;
/// Most items waiting in one queue.
const MAX_QUEUE_ITEMS: usize = 10_000;
/// Most bytes waiting in one queue.
const MAX_QUEUE_BYTES: usize = 16 << 20;
/// Longest queue name or metric name.
const MAX_NAME: usize = 256;
/// Most metrics one filter may define.
const MAX_METRICS: usize = 100;

/// The shared data and queues of one VM id.
#[derive(Default)]
pub struct Vm {
    data: Mutex<Data>,
    queues: Mutex<HashMap<Vec<u8>, u32>>,
}

/// The VMs by id, for as long as the process runs.
static VMS: LazyLock<DashMap<String, Arc<Vm>>> = LazyLock::new(DashMap::new);
/// Every queue by id (ids are unique across VMs, as `proxy_resolve_shared_queue` may name
/// another VM's queue).
static QUEUES: LazyLock<DashMap<u32, Queue>> = LazyLock::new(DashMap::new);
static NEXT_QUEUE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// The VM with id `vm_id`, created at first use.
pub fn vm(vm_id: &str) -> Arc<Vm> {
    VMS.entry(vm_id.to_string()).or_default().clone()
}

#[derive(Default)]
struct Data {
    entries: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    bytes: usize,
    next_cas: u32,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Vec<u8>>,
    bytes: usize,
    /// The root instance to tell when an item arrives (`proxy_on_queue_ready`).
    listener: Option<UnboundedSender<u32>>,
}

impl Vm {
    /// The value under `key` and its compare-and-swap version.
    pub fn get(&self, key: &[u8]) -> Option<(Vec<u8>, u32)> {
        lock(&self.data).entries.get(key).cloned()
    }

    /// Store `value` under `key`; with `cas` not 0, only if the value's version is still `cas`.
    pub fn set(&self, key: &[u8], value: Vec<u8>, cas: u32) -> Status {
        if key.len() > MAX_KEY || value.len() > MAX_VALUE {
            return Status::BadArgument;
        }
        let mut data = lock(&self.data);
        let old = data
            .entries
            .get(key)
            .map(|(v, version)| (v.len(), *version));
        if let Some((_, version)) = old {
            if cas != 0 && cas != version {
                return Status::CasMismatch;
            }
        }
        let freed = old.map_or(0, |(len, _)| len + key.len());
        let grown = data.bytes - freed + key.len() + value.len();
        if grown > MAX_DATA_BYTES || (old.is_none() && data.entries.len() >= MAX_KEYS) {
            return Status::BadArgument;
        }
        data.next_cas = data.next_cas.wrapping_add(1).max(1);
        let version = data.next_cas;
        data.bytes = grown;
        data.entries.insert(key.to_vec(), (value, version));
        Status::Ok
    }

    /// The queue named `name` in this VM, created if absent; `listener` (the root instance's)
    /// is told of each item enqueued.
    pub fn register_queue(
        &self,
        name: &[u8],
        listener: Option<UnboundedSender<u32>>,
    ) -> Result<u32, Status> {
        if name.len() > MAX_NAME {
            return Err(Status::BadArgument);
        }
        let mut queues = lock(&self.queues);
        let id = match queues.get(name) {
            Some(id) => *id,
            None if queues.len() >= MAX_QUEUES => return Err(Status::BadArgument),
            None => {
                let id = NEXT_QUEUE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                QUEUES.insert(id, Queue::default());
                queues.insert(name.to_vec(), id);
                id
            }
        };
        if let (Some(listener), Some(mut queue)) = (listener, QUEUES.get_mut(&id)) {
            queue.listener = Some(listener);
        }
        Ok(id)
    }

    /// The id of this VM's queue `name`, if it has one.
    pub fn resolve_queue(&self, name: &[u8]) -> Option<u32> {
        lock(&self.queues).get(name).copied()
    }
}

/// Append `value` to queue `id`, telling its listener.
pub fn enqueue(id: u32, value: Vec<u8>) -> Status {
    let Some(mut queue) = QUEUES.get_mut(&id) else {
        return Status::NotFound;
    };
    if value.len() > MAX_VALUE
        || queue.items.len() >= MAX_QUEUE_ITEMS
        || queue.bytes + value.len() > MAX_QUEUE_BYTES
    {
        return Status::BadArgument;
    }
    queue.bytes += value.len();
    queue.items.push_back(value);
    if let Some(listener) = &queue.listener {
        if listener.send(id).is_err() {
            queue.listener = None;
        }
    }
    Status::Ok
}

/// The oldest item of queue `id`: `Err(Empty)` when there is none.
pub fn dequeue(id: u32) -> Result<Vec<u8>, Status> {
    let mut queue = QUEUES.get_mut(&id).ok_or(Status::NotFound)?;
    let item = queue.items.pop_front().ok_or(Status::Empty)?;
    queue.bytes -= item.len();
    Ok(item)
}

/// One metric a filter defined.
enum Series {
    Counter(IntCounter),
    Gauge(IntGauge),
    Histogram(Histogram),
}

/// A metric's name, type and series.
type Defined = (Vec<u8>, MetricType, Arc<Series>);

/// The metrics one filter defined, by id (index + 1).
#[derive(Default)]
pub struct Metrics(Mutex<Vec<Defined>>);

impl Metrics {
    /// The id of metric `name` of `kind` for filter `plugin`: the one defined before, or a new
    /// one while fewer than [`MAX_METRICS`] exist.
    pub fn define(&self, plugin: &str, kind: MetricType, name: &[u8]) -> Result<u32, Status> {
        let text = std::str::from_utf8(name).map_err(|_| Status::BadArgument)?;
        if text.is_empty() || text.len() > MAX_NAME {
            return Err(Status::BadArgument);
        }
        let mut defined = lock(&self.0);
        if let Some(i) = defined.iter().position(|(n, k, _)| n == name && *k == kind) {
            return Ok(i as u32 + 1);
        }
        if defined.len() >= MAX_METRICS {
            return Err(Status::BadArgument);
        }
        let labels = [plugin, text];
        let series = match kind {
            MetricType::Counter => {
                Series::Counter(METRICS.plugin_counters.with_label_values(&labels))
            }
            MetricType::Gauge => Series::Gauge(METRICS.plugin_gauges.with_label_values(&labels)),
            MetricType::Histogram => {
                Series::Histogram(METRICS.plugin_histograms.with_label_values(&labels))
            }
        };
        defined.push((name.to_vec(), kind, Arc::new(series)));
        Ok(defined.len() as u32)
    }

    fn series(&self, id: u32) -> Result<Arc<Series>, Status> {
        let defined = lock(&self.0);
        let index = (id as usize).checked_sub(1).ok_or(Status::NotFound)?;
        defined
            .get(index)
            .map(|(_, _, s)| s.clone())
            .ok_or(Status::NotFound)
    }

    /// Add `offset` to a counter (not below zero) or a gauge.
    pub fn increment(&self, id: u32, offset: i64) -> Status {
        match self.series(id).as_deref() {
            Ok(Series::Counter(counter)) if offset >= 0 => counter.inc_by(offset as u64),
            Ok(Series::Gauge(gauge)) => gauge.add(offset),
            Ok(_) => return Status::BadArgument,
            Err(status) => return *status,
        }
        Status::Ok
    }

    /// Add `value` to a counter, set a gauge to it, or record it in a histogram.
    pub fn record(&self, id: u32, value: u64) -> Status {
        match self.series(id).as_deref() {
            Ok(Series::Counter(counter)) => counter.inc_by(value),
            Ok(Series::Gauge(gauge)) => gauge.set(i64::try_from(value).unwrap_or(i64::MAX)),
            Ok(Series::Histogram(histogram)) => histogram.observe(value as f64),
            Err(status) => return *status,
        }
        Status::Ok
    }

    /// The value of a counter or gauge.
    pub fn get(&self, id: u32) -> Result<u64, Status> {
        match self.series(id)?.as_ref() {
            Series::Counter(counter) => Ok(counter.get()),
            Series::Gauge(gauge) => Ok(gauge.get().max(0) as u64),
            Series::Histogram(_) => Err(Status::BadArgument),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_data_is_versioned_and_bounded() {
        let vm = Vm::default();
        assert_eq!(vm.set(b"k", b"v1".to_vec(), 0), Status::Ok);
        let (value, cas) = vm.get(b"k").unwrap();
        assert_eq!(value, b"v1");
        assert_eq!(vm.set(b"k", b"v2".to_vec(), cas), Status::Ok);
        assert_eq!(
            vm.set(b"k", b"v3".to_vec(), cas),
            Status::CasMismatch,
            "stale version"
        );
        assert_eq!(
            vm.set(&[b'k'; MAX_KEY + 1], Vec::new(), 0),
            Status::BadArgument
        );
        assert_eq!(
            vm.set(b"big", vec![0; MAX_VALUE + 1], 0),
            Status::BadArgument
        );
    }

    #[test]
    fn queues_keep_order_bound_their_items_and_tell_their_listener() {
        let vm = Vm::default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let id = vm.register_queue(b"q", Some(tx)).unwrap();
        assert_eq!(vm.resolve_queue(b"q"), Some(id));
        assert_eq!(dequeue(id), Err(Status::Empty));
        assert_eq!(enqueue(id, b"a".to_vec()), Status::Ok);
        assert_eq!(enqueue(id, b"b".to_vec()), Status::Ok);
        assert_eq!(rx.try_recv(), Ok(id));
        assert_eq!(dequeue(id).unwrap(), b"a");
        for _ in 1..MAX_QUEUE_ITEMS {
            enqueue(id, Vec::new());
        }
        assert_eq!(enqueue(id, Vec::new()), Status::BadArgument, "full");
        assert_eq!(enqueue(u32::MAX, Vec::new()), Status::NotFound);
    }

    #[test]
    fn metrics_follow_envoy_semantics_and_are_bounded() {
        let metrics = Metrics::default();
        let counter = metrics
            .define("f", MetricType::Counter, b"requests")
            .unwrap();
        assert_eq!(
            metrics.define("f", MetricType::Counter, b"requests"),
            Ok(counter)
        );
        assert_eq!(metrics.increment(counter, 2), Status::Ok);
        assert_eq!(metrics.increment(counter, -1), Status::BadArgument);
        assert_eq!(metrics.get(counter), Ok(2));
        let gauge = metrics.define("f", MetricType::Gauge, b"level").unwrap();
        assert_eq!(metrics.record(gauge, 7), Status::Ok);
        assert_eq!(metrics.increment(gauge, -3), Status::Ok);
        assert_eq!(metrics.get(gauge), Ok(4));
        for i in 2..MAX_METRICS {
            metrics
                .define("f", MetricType::Histogram, format!("h{i}").as_bytes())
                .unwrap();
        }
        assert_eq!(
            metrics.define("f", MetricType::Counter, b"more"),
            Err(Status::BadArgument)
        );
        assert_eq!(metrics.increment(999, 1), Status::NotFound);
    }
}
