//! The audit trail: who changed what, when, from where, and how it ended,
//! for every mutating call, allowed or refused.
//!
//! - `event`: the [`AuditEvent`] a call leaves, built from what a handler
//!   (or the gate) has in hand: the request's principal, peer address,
//!   trace id and the forwarded `on behalf of` claim.
//! - `store`: the `audit_event` table of a service's own database. A
//!   successful change inserts its event inside the change's transaction
//!   ([`insert`]), so that a change never lacks its event nor an event its
//!   change; a failed call records its event on its own ([`AuditStore`]).
//! - `sink`: where the gate sends refusals ([`AuditSink`]), routed to the
//!   journal of the service the method belongs to.
//! - `grpc`: `obup.audit.v1.Audit/ListAuditEvents`, served by every
//!   service that keeps a journal.
//!
//! Secrets are never recorded: a token is named by its record's name, and a
//! refused caller's token not at all.

mod event;
mod grpc;
mod sink;
mod store;

pub use event::{AuditEvent, AuditResult, ON_BEHALF_HEADER};
pub use grpc::{Journal, server};
pub use sink::{AuditSink, ByService};
pub use store::{AuditStore, insert};
