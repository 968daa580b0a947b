//! CoordinatorService over gRPC: a thin adapter on the transport-free `Coordinator`. Mutating calls require the
//! bearer token (compared in constant time) when one is configured.

use std::sync::Arc;
use std::time::Duration;

use genms_coordinator::{CampaignState, Coordinator};
use genms_shared::search::SearchParams;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::convert;
use crate::proto::genms::v1 as pb;
use crate::proto::genms::v1::coordinator_service_server::CoordinatorService;

pub struct CoordinatorRpc {
    pub coordinator: Arc<Coordinator>,
    /// Expected bearer token of mutating calls; `None` = open (a warning is logged at start).
    pub token: Option<String>,
    /// Defaults for parameters a `CreateCampaign` leaves unset.
    pub defaults: SearchParams,
}

/// Equal-length byte comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl CoordinatorRpc {
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(expected) = &self.token else { return Ok(()) };
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let given = header.strip_prefix("Bearer ").unwrap_or("");
        if given.is_empty() {
            metrics::counter!("genms_auth_rejected_total", "reason" => "missing").increment(1);
            return Err(Status::unauthenticated("missing bearer token (set GENMS_TOKEN)"));
        }
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            metrics::counter!("genms_auth_rejected_total", "reason" => "wrong").increment(1);
            return Err(Status::unauthenticated("invalid bearer token"));
        }
        Ok(())
    }

    async fn view(&self, id: &str) -> Result<Response<pb::Campaign>, Status> {
        let v = self.coordinator.campaign(id).await.map_err(convert::coordinator_error_status)?;
        Ok(Response::new(convert::campaign_to_pb(&v)))
    }

    async fn set_state(
        &self,
        request: Request<pb::CampaignRef>,
        state: CampaignState,
    ) -> Result<Response<pb::Campaign>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().campaign_id;
        self.coordinator.set_state(&id, state).await.map_err(convert::coordinator_error_status)?;
        self.view(&id).await
    }
}

#[tonic::async_trait]
impl CoordinatorService for CoordinatorRpc {
    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::CreateCampaignResponse>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let params = convert::params_from_pb(r.params, &r.set_fields, &self.defaults)?;
        let id = (!r.campaign_id.is_empty()).then_some(r.campaign_id);
        let campaign_id =
            self.coordinator.create_campaign(&r.prompt, params, id).await.map_err(convert::coordinator_error_status)?;
        Ok(Response::new(pb::CreateCampaignResponse { campaign_id }))
    }

    async fn get_campaign(&self, request: Request<pb::CampaignRef>) -> Result<Response<pb::Campaign>, Status> {
        self.view(&request.into_inner().campaign_id).await
    }

    async fn list_campaigns(
        &self,
        _request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let ids = self.coordinator.campaign_ids().await.map_err(convert::coordinator_error_status)?;
        let mut campaigns = Vec::with_capacity(ids.len());
        for id in ids {
            let v = self.coordinator.campaign(&id).await.map_err(convert::coordinator_error_status)?;
            campaigns.push(convert::campaign_to_pb(&v));
        }
        Ok(Response::new(pb::ListCampaignsResponse { campaigns }))
    }

    async fn list_candidates(
        &self,
        request: Request<pb::ListCandidatesRequest>,
    ) -> Result<Response<pb::ListCandidatesResponse>, Status> {
        let r = request.into_inner();
        let cands = self
            .coordinator
            .candidates(&r.campaign_id, r.top as usize)
            .await
            .map_err(convert::coordinator_error_status)?;
        let candidates = cands.into_iter().enumerate().map(|(i, c)| convert::candidate_to_pb(i + 1, c)).collect();
        Ok(Response::new(pb::ListCandidatesResponse { candidates }))
    }

    type WatchCampaignStream = ReceiverStream<Result<pb::CampaignEvent, Status>>;

    async fn watch_campaign(
        &self,
        request: Request<pb::WatchCampaignRequest>,
    ) -> Result<Response<Self::WatchCampaignStream>, Status> {
        let r = request.into_inner();
        // Fail fast on an unknown id.
        self.coordinator.campaign(&r.campaign_id).await.map_err(convert::coordinator_error_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let coordinator = self.coordinator.clone();
        tokio::spawn(async move {
            let mut after = r.after_seq;
            loop {
                let view = match coordinator.campaign(&r.campaign_id).await {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = tx.send(Err(convert::coordinator_error_status(e))).await;
                        return;
                    }
                };
                let events = coordinator.events_after(&r.campaign_id, after, 256).await.unwrap_or_default();
                for e in &events {
                    after = e.seq;
                    let msg = pb::CampaignEvent {
                        seq: e.seq,
                        ts_ms: e.ts_ms,
                        kind: e.kind.clone(),
                        message: e.message.clone(),
                        state: view.snapshot.state.as_str().into(),
                        counts: view.snapshot.counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    };
                    if tx.send(Ok(msg)).await.is_err() {
                        return; // client went away
                    }
                }
                if events.is_empty() && !view.snapshot.state.is_active() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn update_search_params(
        &self,
        request: Request<pb::UpdateSearchParamsRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        self.authorize(&request)?;
        let r = request.into_inner();
        let update = convert::update_from_pb(r.update);
        self.coordinator.update_params(&r.campaign_id, &update).await.map_err(convert::coordinator_error_status)?;
        self.view(&r.campaign_id).await
    }

    async fn pause_campaign(&self, request: Request<pb::CampaignRef>) -> Result<Response<pb::Campaign>, Status> {
        self.set_state(request, CampaignState::Paused).await
    }

    async fn resume_campaign(&self, request: Request<pb::CampaignRef>) -> Result<Response<pb::Campaign>, Status> {
        self.set_state(request, CampaignState::Running).await
    }

    async fn cancel_campaign(&self, request: Request<pb::CampaignRef>) -> Result<Response<pb::Campaign>, Status> {
        self.set_state(request, CampaignState::Cancelled).await
    }

    async fn list_workers(
        &self,
        _request: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let workers = self
            .coordinator
            .workers()
            .into_iter()
            .map(|w| pb::WorkerStatus {
                address: w.address,
                healthy: w.healthy,
                in_flight: w.in_flight as u32,
                completed: w.completed,
                failed: w.failed,
                info: w.info.map(convert::info_to_pb),
            })
            .collect();
        Ok(Response::new(pb::ListWorkersResponse { workers }))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
