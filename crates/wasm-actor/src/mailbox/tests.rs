use super::*;
use wasm_core::{ComponentId, MessageMetadata};

fn message(n: u8) -> Envelope {
    Envelope::Message {
        message: ComponentMessage {
            sender: ComponentId::new("t", "s", "1").unwrap_or_else(|e| panic!("{e}")),
            payload: vec![n],
            metadata: MessageMetadata::default(),
        },
        request: None,
        receipt: None,
    }
}

fn payload(e: &Envelope) -> u8 {
    match e {
        Envelope::Message { message, .. } | Envelope::Callback(message) => message.payload[0],
    }
}

#[test]
fn keeps_order_and_refuses_when_full_but_accepts_callbacks() {
    let mailbox = Mailbox::new(2, Arc::default());
    assert_eq!(mailbox.push(message(1)), Ok(()));
    assert_eq!(mailbox.push(message(2)), Ok(()));
    assert_eq!(mailbox.push(message(3)), Err(Refused::Full));
    let callback = match message(4) {
        Envelope::Message { message, .. } => Envelope::Callback(message),
        other => other,
    };
    assert_eq!(mailbox.push(callback), Ok(()));
    let order: Vec<u8> = std::iter::from_fn(|| mailbox.pop().map(|(e, _)| e))
        .map(|e| payload(&e))
        .collect();
    assert_eq!(order, vec![1, 2, 4]);
}

#[tokio::test]
async fn a_push_wakes_a_waiting_drainer_and_an_early_one_is_kept() {
    let mailbox = Arc::new(Mailbox::new(4, Arc::default()));
    // A push before anyone waits is not lost: the next wait returns at once.
    assert_eq!(mailbox.push(message(1)), Ok(()));
    mailbox.woken().await;
    assert!(mailbox.pop().is_some());
    // A drainer already waiting is woken by the next push.
    let drainer = tokio::spawn({
        let mailbox = mailbox.clone();
        async move {
            mailbox.woken().await;
            mailbox.pop().map(|(e, _)| payload(&e))
        }
    });
    tokio::task::yield_now().await;
    assert!(!drainer.is_finished());
    assert_eq!(mailbox.push(message(2)), Ok(()));
    assert_eq!(drainer.await.ok().flatten(), Some(2));
}

#[test]
fn push_all_is_all_or_nothing() {
    let (a, b) = (
        Mailbox::new(1, Arc::default()),
        Mailbox::new(1, Arc::default()),
    );
    assert_eq!(b.push(message(9)), Ok(()));
    assert_eq!(
        Mailbox::push_all(&[&a, &b], || message(1)),
        Err((1, Refused::Full))
    );
    assert_eq!(a.len(), 0);
    let _ = b.pop();
    assert_eq!(Mailbox::push_all(&[&a, &b, &a], || message(1)), Ok(()));
    assert_eq!((a.len(), b.len()), (1, 1));
}

#[test]
fn reserved_slots_count_against_the_capacity_until_used_or_released() {
    let mailbox = Mailbox::new(3, Arc::default());
    assert_eq!(mailbox.reserve(2), 2);
    assert_eq!(mailbox.push(message(1)), Ok(()));
    assert_eq!(mailbox.push(message(2)), Err(Refused::Full));
    assert_eq!(mailbox.reserve(5), 0);
    // A run of three into held slots: both held slots are used, then the third is an
    // ordinary push, and the box is full.
    let refused: Vec<(Refused, u8)> = mailbox
        .push_run(vec![
            (message(3), true),
            (message(4), true),
            (message(5), true),
        ])
        .iter()
        .map(|(why, e)| (*why, payload(e)))
        .collect();
    assert_eq!(refused, vec![(Refused::Full, 5)]);
    assert_eq!(mailbox.len(), 3);
    let _ = mailbox.pop();
    assert_eq!(mailbox.reserve(1), 1);
    mailbox.release(1);
    assert_eq!(mailbox.push(message(6)), Ok(()));
    let _ = mailbox.close();
    assert_eq!(mailbox.reserve(1), 0);
    let refused: Vec<Refused> = mailbox
        .push_run(vec![(message(7), true)])
        .iter()
        .map(|(why, _)| *why)
        .collect();
    assert_eq!(refused, vec![Refused::Closed]);
}

#[tokio::test]
async fn a_waiting_push_takes_the_room_a_pop_makes() {
    let mailbox = Arc::new(Mailbox::new(1, Arc::default()));
    assert_eq!(mailbox.push(message(1)), Ok(()));
    let producer = tokio::spawn({
        let mailbox = mailbox.clone();
        async move {
            mailbox
                .push_waiting(message(2), Duration::from_secs(60))
                .await
                .map_err(|b| b.0)
        }
    });
    // The producer waits: the box is full.
    while mailbox.queue.lock().waiting == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!producer.is_finished());
    assert_eq!(mailbox.pop().map(|(e, _)| payload(&e)), Some(1));
    assert_eq!(producer.await.ok(), Some(Ok(())));
    assert_eq!(mailbox.pop().map(|(e, _)| payload(&e)), Some(2));
    assert_eq!(mailbox.queue.lock().waiting, 0);
}

#[tokio::test]
async fn a_waiting_push_gives_up_at_its_timeout_or_at_close() {
    let mailbox = Arc::new(Mailbox::new(1, Arc::default()));
    assert_eq!(mailbox.push(message(1)), Ok(()));
    let refused = mailbox
        .push_waiting(message(2), Duration::from_millis(50))
        .await
        .err()
        .map(|b| (b.0, payload(&b.1)));
    assert_eq!(refused, Some((Refused::Full, 2)));
    assert_eq!(mailbox.len(), 1);
    let producer = tokio::spawn({
        let mailbox = mailbox.clone();
        async move {
            mailbox
                .push_waiting(message(3), Duration::from_secs(60))
                .await
                .map_err(|b| b.0)
        }
    });
    while mailbox.queue.lock().waiting == 0 {
        tokio::task::yield_now().await;
    }
    let _ = mailbox.close();
    assert_eq!(producer.await.ok(), Some(Err(Refused::Closed)));
}

#[test]
fn messages_from_other_hosts_are_taken_out_and_the_rest_keep_their_order() {
    let mailbox = Mailbox::new(8, Arc::default());
    for n in 1..=4 {
        let mut envelope = message(n);
        if let Envelope::Message { receipt, .. } = &mut envelope
            && n % 2 == 0
        {
            *receipt = Some(Receipt::new(()));
        }
        assert_eq!(mailbox.push(envelope), Ok(()));
    }
    let taken: Vec<u8> = mailbox.take_remote().iter().map(payload).collect();
    assert_eq!(taken, vec![2, 4]);
    let left: Vec<u8> = std::iter::from_fn(|| mailbox.pop().map(|(e, _)| e))
        .map(|e| payload(&e))
        .collect();
    assert_eq!(left, vec![1, 3]);
}

#[test]
fn a_closed_mailbox_returns_its_content_and_refuses_more() {
    let mailbox = Mailbox::new(4, Arc::default());
    assert_eq!(mailbox.push(message(1)), Ok(()));
    assert_eq!(mailbox.close().len(), 1);
    assert_eq!(mailbox.push(message(2)), Err(Refused::Closed));
}
