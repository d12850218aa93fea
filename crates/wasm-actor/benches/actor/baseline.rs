//! Baselines measured in the same run as the actors: the same wasm work as direct
//! `ComponentInstance` calls (no mailbox, no actor), and a bare tokio ping-pong.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use wasm_core::{
    ComponentId, ComponentMessage, CorrelationId, MessageMetadata, MessagePayload, MessageRouter,
    MessagingError, ResourceLimits, Routed, Timestamp,
};
use wasm_runtime::{ComponentInstance, HostServices, InstanceSpec, LoadedComponent, WasmEngine};
use wasm_security::CapabilitySet;

use crate::{Flavour, RECEIVER, SENDER, id, quantile_us, talk_to_all};

/// A router that builds each sent message as the actor router does and keeps it.
#[derive(Debug, Default)]
struct Collect(Mutex<Vec<ComponentMessage>>);

impl MessageRouter for Collect {
    fn send(&self, from: &ComponentId, _to: &ComponentId, payload: MessagePayload) -> Routed<()> {
        self.0.lock().push(ComponentMessage {
            sender: from.clone(),
            payload,
            metadata: MessageMetadata {
                timestamp: Timestamp::now(),
                ..MessageMetadata::default()
            },
        });
        Routed::Done(Ok(()))
    }

    fn request(
        &self,
        _from: &ComponentId,
        _to: &ComponentId,
        _payload: MessagePayload,
        _timeout: Duration,
    ) -> Routed<CorrelationId> {
        Routed::Done(Err(MessagingError::DeliveryFailed(
            "not in this baseline".into(),
        )))
    }

    fn cancel_request(
        &self,
        _from: &ComponentId,
        _id: &CorrelationId,
    ) -> Result<(), MessagingError> {
        Err(MessagingError::InvalidMessage(
            "not in this baseline".into(),
        ))
    }

    fn broadcast(
        &self,
        _from: &ComponentId,
        _targets: &[ComponentId],
        _payload: MessagePayload,
    ) -> Routed<()> {
        Routed::Done(Err(MessagingError::DeliveryFailed(
            "not in this baseline".into(),
        )))
    }
}

fn host_message(text: &str) -> ComponentMessage {
    ComponentMessage {
        sender: ComponentId::host(),
        payload: text.as_bytes().to_vec(),
        metadata: MessageMetadata {
            timestamp: Timestamp::now(),
            ..MessageMetadata::default()
        },
    }
}

fn instantiate(
    rt: &Runtime,
    engine: &WasmEngine,
    component: &LoadedComponent,
    services: HostServices,
    caps: CapabilitySet,
) -> ComponentInstance {
    let spec = InstanceSpec {
        capabilities: Arc::new(caps),
        services,
        limits: ResourceLimits::default(),
    };
    rt.block_on(ComponentInstance::instantiate(engine, component, spec))
        .unwrap()
}

/// The throughput baseline: a sender and a receiver instance of `pinger`, called directly.
pub struct BarePair {
    rt: Runtime,
    sink: Arc<Collect>,
    sender: ComponentInstance,
    receiver: ComponentInstance,
    total: u64,
}

impl BarePair {
    pub fn new(engine: &WasmEngine, pinger: &LoadedComponent) -> Self {
        let rt = Flavour::CurrentThread.runtime();
        let sink = Arc::new(Collect::default());
        let services = HostServices::standalone().with_router(sink.clone());
        let caps = CapabilitySet::compile(id(SENDER), &talk_to_all()).unwrap();
        let sender = instantiate(&rt, engine, pinger, services, caps);
        let caps = CapabilitySet::deny_all(id(RECEIVER));
        let receiver = instantiate(&rt, engine, pinger, HostServices::standalone(), caps);
        Self {
            rt,
            sink,
            sender,
            receiver,
            total: 0,
        }
    }

    /// The sender's `blast` (its sends collected), every tick handled by the receiver, then
    /// the receiver's `count`: the actor run's wasm work without mailboxes or actors.
    /// Returns the whole time and the sender's share of it.
    pub fn blast(&mut self, n: u64) -> (Duration, Duration) {
        self.total += n;
        let (sender, receiver, sink, total) =
            (&mut self.sender, &mut self.receiver, &self.sink, self.total);
        self.rt.block_on(async {
            let start = Instant::now();
            let command = host_message(&format!("blast {RECEIVER} {n}"));
            let sent = sender.handle_message(&command).await.unwrap().unwrap();
            assert_eq!(sent, Some(format!("sent {n}").into_bytes()));
            let sending = start.elapsed();
            let ticks = std::mem::take(&mut *sink.0.lock());
            for tick in &ticks {
                receiver.handle_message(tick).await.unwrap().unwrap();
            }
            let count = receiver
                .handle_message(&host_message("count"))
                .await
                .unwrap()
                .unwrap();
            let time = start.elapsed();
            assert_eq!(count, Some(total.to_string().into_bytes()));
            (time, sending)
        })
    }
}

/// The p50 of one echo `handle-message` as a direct, awaited call, in microseconds.
pub fn echo_call_p50_us(engine: &WasmEngine, echo: &LoadedComponent, m: u64) -> f64 {
    let rt = Flavour::CurrentThread.runtime();
    let caps = CapabilitySet::deny_all(id(crate::ECHO));
    let mut instance = instantiate(&rt, engine, echo, HostServices::standalone(), caps);
    let message = host_message("ping");
    let mut samples: Vec<u64> = rt.block_on(async {
        let mut samples = Vec::with_capacity(m as usize);
        for _ in 0..m {
            let start = Instant::now();
            instance.handle_message(&message).await.unwrap().unwrap();
            samples.push(start.elapsed().as_nanos() as u64);
        }
        samples
    });
    samples.sort_unstable();
    quantile_us(&samples, 0.5)
}

/// `m` sequential request/reply exchanges between two spawned tasks (mpsc there, oneshot
/// back), each timed by the requesting task. Sorted nanoseconds.
pub async fn tokio_ping_pong(m: u64) -> Vec<u64> {
    type Request = (Vec<u8>, oneshot::Sender<Vec<u8>>);
    let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
    let server = tokio::spawn(async move {
        while let Some((payload, reply)) = rx.recv().await {
            let _ = reply.send(payload);
        }
    });
    let client = tokio::spawn(async move {
        let mut samples = Vec::with_capacity(m as usize);
        for _ in 0..m {
            let start = Instant::now();
            let (reply, answer) = oneshot::channel();
            tx.send((b"ping".to_vec(), reply)).unwrap();
            answer.await.unwrap();
            samples.push(start.elapsed().as_nanos() as u64);
        }
        samples
    });
    let mut samples = client.await.unwrap();
    server.await.unwrap();
    samples.sort_unstable();
    samples
}

/// A router that answers `request` at once with the next correlation id (formatted as the
/// actor router formats it) and keeps the request message as the actor router would queue
/// it: reply-to and correlation id set.
#[derive(Debug, Default)]
struct Answering {
    next: std::sync::atomic::AtomicU64,
    asked: Mutex<Option<ComponentMessage>>,
}

impl MessageRouter for Answering {
    fn send(&self, _from: &ComponentId, _to: &ComponentId, _payload: MessagePayload) -> Routed<()> {
        Routed::Done(Err(MessagingError::DeliveryFailed(
            "not in this baseline".into(),
        )))
    }

    fn request(
        &self,
        from: &ComponentId,
        _to: &ComponentId,
        payload: MessagePayload,
        _timeout: Duration,
    ) -> Routed<CorrelationId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = CorrelationId::new(format!("req-{n}"));
        *self.asked.lock() = Some(ComponentMessage {
            sender: from.clone(),
            payload,
            metadata: MessageMetadata {
                reply_to: Some(from.clone()),
                correlation_id: Some(id.clone()),
                timestamp: Timestamp::now(),
                ..MessageMetadata::default()
            },
        });
        Routed::Done(Ok(id))
    }

    fn cancel_request(
        &self,
        _from: &ComponentId,
        _id: &CorrelationId,
    ) -> Result<(), MessagingError> {
        Err(MessagingError::InvalidMessage(
            "not in this baseline".into(),
        ))
    }

    fn broadcast(
        &self,
        _from: &ComponentId,
        _targets: &[ComponentId],
        _payload: MessagePayload,
    ) -> Routed<()> {
        Routed::Done(Err(MessagingError::DeliveryFailed(
            "not in this baseline".into(),
        )))
    }
}

/// The round trip's floor: the same two instances (`pinger`, `echo`) called directly, one
/// after the other on one thread, with the messages the actors would get. The pinger's
/// `request` is answered at once by the router; its request goes to echo's `handle-message`
/// (correlation id and reply-to set), and echo's reply to the pinger's `handle-callback`
/// (correlation id set). The pinger times each round trip itself, as in the actor run.
pub struct BareRoundTrip {
    rt: Runtime,
    router: Arc<Answering>,
    pinger: ComponentInstance,
    echo: ComponentInstance,
}

impl BareRoundTrip {
    pub fn new(engine: &WasmEngine, pinger: &LoadedComponent, echo: &LoadedComponent) -> Self {
        let rt = Flavour::CurrentThread.runtime();
        let router = Arc::new(Answering::default());
        let services = HostServices::standalone().with_router(router.clone());
        let caps = CapabilitySet::compile(id(crate::PINGER), &talk_to_all()).unwrap();
        let pinger = instantiate(&rt, engine, pinger, services.clone(), caps);
        let caps = CapabilitySet::deny_all(id(crate::ECHO));
        let echo = instantiate(&rt, engine, echo, services, caps);
        Self {
            rt,
            router,
            pinger,
            echo,
        }
    }

    /// `m` round trips; the pinger's own timings, sorted nanoseconds.
    pub fn run(&mut self, m: u64) -> Vec<u64> {
        let (pinger, echo, router) = (&mut self.pinger, &mut self.echo, &self.router);
        self.rt.block_on(async {
            let started = pinger
                .handle_message(&host_message(&format!("rtt {} {m}", crate::ECHO)))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(started, Some(b"started".to_vec()));
            loop {
                // Taken out first: the callback's next `request` locks it again.
                let asked = router.asked.lock().take();
                let Some(request) = asked else {
                    break;
                };
                let reply = echo.handle_message(&request).await.unwrap().unwrap();
                let callback = ComponentMessage {
                    sender: id(crate::ECHO),
                    payload: reply.unwrap_or_default(),
                    metadata: MessageMetadata {
                        correlation_id: request.metadata.correlation_id.clone(),
                        timestamp: Timestamp::now(),
                        ..MessageMetadata::default()
                    },
                };
                pinger.handle_callback(&callback).await.unwrap().unwrap();
            }
            let list = pinger
                .handle_message(&host_message("latencies"))
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let list = String::from_utf8(list).unwrap();
            let mut samples: Vec<u64> = list.split(',').map(|s| s.parse().unwrap()).collect();
            assert_eq!(samples.len() as u64, m, "{list}");
            samples.sort_unstable();
            samples
        })
    }
}
