//! Checking a request and planning its work, per action (PROTOCOL.md section 2).

use std::sync::Arc;

use super::job::{Job, Work};
use super::request;
use super::{Session, Step};
use crate::binding::ModelBinding;
use crate::filter::{parse_filter, Filter, Ordering};
use crate::outbound::SubKey;
use crate::protocol::{ApiError, ErrorCode, Inbound};
use crate::validate::{validate_write, WriteMode};

impl Session {
    pub(super) fn plan(&mut self, inbound: Inbound) -> Result<Step, ApiError> {
        let Inbound { event, data } = inbound;
        let binding = self
            .engine
            .registry()
            .get(event.stream())
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownEvent,
                    format!("no stream {}", event.stream()),
                )
            })?;
        let limits = self.engine.limits().clone();
        let work = match event.action() {
            "retrieve" => {
                let pk = request::pk(&data)?;
                let subscribe = request::flag(&data, "subscribe", true)?;
                let key = if subscribe {
                    let key = SubKey {
                        stream: event.stream().to_owned(),
                        event: event.to_string(),
                        pk: Some(pk),
                    };
                    self.reserve(&key)?;
                    Some(key)
                } else {
                    None
                };
                Work::Retrieve { pk, key }
            }
            "search" => {
                let page = match request::int(&data, "page")? {
                    None => 1,
                    Some(p) if p >= 1 => p as u64,
                    Some(_) => return Err(ApiError::bad_request("page starts at 1")),
                };
                let default = binding.own_page_size().unwrap_or(limits.page_size);
                let limit = request::int(&data, "limit")?
                    .map_or(default, |l| l.clamp(1, limits.max_page_size as i64) as u64)
                    .min(limits.max_page_size);
                let (filter, order) = query_of(&binding, &data, limits.max_in_list)?;
                Work::Search {
                    filter,
                    order,
                    page,
                    limit,
                }
            }
            "list" => {
                let (filter, order) = query_of(&binding, &data, limits.max_in_list)?;
                Work::List {
                    filter,
                    order,
                    limit: limits.max_list_size,
                }
            }
            "create" => Work::Create {
                values: validate_write(&binding, &data, WriteMode::Create)?,
            },
            "update" => {
                let pk = request::pk(&data)?;
                Work::Update {
                    pk,
                    values: validate_write(&binding, &data, WriteMode::Update)?,
                }
            }
            "save" => match request::opt_pk(&data)? {
                Some(pk) => Work::Update {
                    pk,
                    values: validate_write(&binding, &data, WriteMode::Replace)?,
                },
                None => Work::Create {
                    values: validate_write(&binding, &data, WriteMode::Create)?,
                },
            },
            "delete" => Work::Delete {
                pk: request::pk(&data)?,
            },
            "unsubscribe" => {
                if event.hash().is_none() {
                    self.leave(event.stream());
                }
                Work::Unsubscribe
            }
            other => {
                return Err(ApiError::new(
                    ErrorCode::UnknownEvent,
                    format!("{} has no action {other}", event.stream()),
                ))
            }
        };
        if event.action() != "unsubscribe" {
            self.join(event.stream());
        }
        Ok(Step::Run(Box::new(Job::new(
            self.engine.clone(),
            self.conn.clone(),
            event,
            binding,
            work,
        ))))
    }

    /// Counts a new subscription against `max_subscriptions`; replacing one is free.
    fn reserve(&self, key: &SubKey) -> Result<(), ApiError> {
        let mut subs = self.conn.subs.lock().unwrap_or_else(|p| p.into_inner());
        if !subs.contains(key) && subs.len() >= self.engine.limits().max_subscriptions {
            return Err(ApiError::new(
                ErrorCode::LimitExceeded,
                format!(
                    "at most {} subscriptions per connection",
                    self.engine.limits().max_subscriptions
                ),
            ));
        }
        subs.insert(key.clone());
        Ok(())
    }
}

/// The filter (`filters` and `query`) and order of a `search` or `list`.
fn query_of(
    binding: &Arc<ModelBinding>,
    data: &serde_json::Map<String, serde_json::Value>,
    max_in: usize,
) -> Result<(Filter, Ordering), ApiError> {
    let filters = request::filters(data)?;
    let query = request::query(data)?;
    let filter = parse_filter(binding, &filters, query, max_in)?;
    let order = Ordering::parse(binding, data.get("order"))?;
    Ok((filter, order))
}
