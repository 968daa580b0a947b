//! genms-worker: the models of genms on candle — formula proposers, the formula -> structure diffusion model and the
//! CGCNN scorer — behind a transport-free `Worker` API. The models arrive with their own issues (CGCNN scorer,
//! diffusion, formula proposer); this crate exists now so the workspace has its final shape and dependency direction
//! (`shared` <- `worker` <- root binary).
