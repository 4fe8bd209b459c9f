//! A group of connections that receives the same frames: a stream's group (section 5 of
//! docs/protocol.md), or everyone for broadcasts.

use std::collections::HashMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::outbound::{ConnId, Outbound};
use crate::protocol::Frame;

/// Messages to a group.
pub enum GroupMsg {
    /// Adds a connection, with its user's id when signed in (again is harmless).
    Join(ConnId, Arc<dyn Outbound>, Option<i64>),
    /// Removes a connection.
    Leave(ConnId),
    /// Queues a frame on every member.
    Send(Frame),
    /// Queues a frame on every member signed in as this user.
    SendToUser(i64, Frame),
}

/// The actor.
pub struct GroupActor;

/// The members.
#[derive(Default)]
pub struct GroupState {
    members: HashMap<ConnId, Member>,
}

struct Member {
    out: Arc<dyn Outbound>,
    user: Option<i64>,
}

impl Actor for GroupActor {
    type Msg = GroupMsg;
    type State = GroupState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<GroupMsg>,
        _: (),
    ) -> Result<GroupState, ActorProcessingErr> {
        Ok(GroupState::default())
    }

    async fn handle(
        &self,
        _myself: ActorRef<GroupMsg>,
        msg: GroupMsg,
        state: &mut GroupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            GroupMsg::Join(id, out, user) => {
                state.members.insert(id, Member { out, user });
            }
            GroupMsg::Leave(id) => {
                state.members.remove(&id);
            }
            GroupMsg::Send(frame) => {
                // A member whose queue refuses the frame is gone or being closed; drop it.
                state.members.retain(|_, m| m.out.send(frame.clone()));
            }
            GroupMsg::SendToUser(user, frame) => {
                state
                    .members
                    .retain(|_, m| m.user != Some(user) || m.out.send(frame.clone()));
            }
        }
        Ok(())
    }
}
