//! genms-coordinator: campaigns, the best-first search tree, batching and scheduling over workers, and the
//! `FrontierStore` (Redis and embedded). Arrives with the search-engine issue; it never depends on `genms-worker` and
//! talks to workers through a trait.
