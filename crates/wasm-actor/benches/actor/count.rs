//! Instruction counts of one round trip, for `valgrind --tool=callgrind` (repeatable on a
//! noisy machine). The floor and the actors each run a small and a large batch in functions
//! of their own; the difference of the two functions' inclusive counts, divided by the
//! difference in round trips, is one round trip's count with every fixed cost (the start
//! request, the latencies reply, the polls) taken out. All of it runs on the caller's thread
//! (a current-thread runtime), so callgrind sees the whole host path.
//!
//! `cargo xtask bench-count` runs it under valgrind and prints the figures; by hand:
//!
//! ```sh
//! AIRSSYS_BENCH_ONLY=count valgrind --tool=callgrind --smc-check=all-non-file \
//!     --toggle-collect='*count_actors_large*' target/release/deps/actor-<hash> --bench
//! ```

use std::time::Duration;

use wasm_actor::ComponentSpec;
use wasm_runtime::{LoadedComponent, WasmEngine};

use crate::baseline::BareRoundTrip;
use crate::{Actors, ECHO, Flavour, PINGER, actor_round_trips, id, talk_to_all};

/// Round trips in the small and the large batch.
pub const SMALL: u64 = 500;
pub const LARGE: u64 = 2_500;
/// How often the actor run is polled for its end: under callgrind (about 50 times slower) a
/// few polls per batch.
const POLL: Duration = Duration::from_millis(100);

#[inline(never)]
fn count_floor_small(floor: &mut BareRoundTrip) {
    std::hint::black_box(floor.run(SMALL));
}

#[inline(never)]
fn count_floor_large(floor: &mut BareRoundTrip) {
    std::hint::black_box(floor.run(LARGE));
}

#[inline(never)]
fn count_actors_small(actors: &Actors) {
    std::hint::black_box(
        actors
            .rt
            .block_on(actor_round_trips(&actors.system, SMALL, POLL)),
    );
}

#[inline(never)]
fn count_actors_large(actors: &Actors) {
    std::hint::black_box(
        actors
            .rt
            .block_on(actor_round_trips(&actors.system, LARGE, POLL)),
    );
}

/// Runs each batch once, after a warm-up of each path.
pub fn run(engine: &WasmEngine, pinger: &LoadedComponent, echo: &LoadedComponent) {
    let mut floor = BareRoundTrip::new(engine, pinger, echo);
    floor.run(SMALL);
    count_floor_small(&mut floor);
    count_floor_large(&mut floor);
    let specs = vec![
        ComponentSpec::new(id(PINGER), pinger.clone()).with_grants(talk_to_all()),
        ComponentSpec::new(id(ECHO), echo.clone()).with_neighbour(id(PINGER)),
    ];
    let actors = Actors::start(Flavour::CurrentThread, engine, specs);
    actors
        .rt
        .block_on(actor_round_trips(&actors.system, SMALL, POLL));
    count_actors_small(&actors);
    count_actors_large(&actors);
    actors.stop();
    // Read by `cargo xtask bench-count`.
    println!("count: small {SMALL}");
    println!("count: large {LARGE}");
}
