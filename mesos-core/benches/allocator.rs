//! `cargo bench -p mesos-core --bench allocator` (env `AGENTS`, `FRAMEWORKS`, `ROUNDS`,
//! `W1_GRID`, `W1_ONLY`, `W1_CLOCK`): Mesos' allocator workloads (performance-anchors W1:
//! DeclineOffers, ResourceLabels, SuppressOffers, ExtremeSuppressOffers,
//! LargeAndSmallQuota), printed in Mesos' line format. The workloads themselves live in
//! `mesos_allocator::bench`.

fn main() {
    mesos_allocator::bench::main_from_env();
}
