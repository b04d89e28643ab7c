// A compact, one line per event, listing of a workflow history: what a reader needs to see why a history
// does not replay (which workflow task did what, which messages and signals it saw), without payloads.
import proto from '@temporalio/proto';

type History = proto.temporal.api.history.v1.IHistory;
type Event = proto.temporal.api.history.v1.IHistoryEvent;

const { EventType } = proto.temporal.api.enums.v1;

function typeName(e: Event): string {
  const name = EventType[e.eventType ?? 0] ?? String(e.eventType);
  return name.replace(/^EVENT_TYPE_/, '');
}

function detail(e: Event): string {
  const a = e;
  if (a.activityTaskScheduledEventAttributes) return `${a.activityTaskScheduledEventAttributes.activityType?.name} id=${a.activityTaskScheduledEventAttributes.activityId}`;
  if (a.activityTaskCompletedEventAttributes) return `sched=${a.activityTaskCompletedEventAttributes.scheduledEventId}`;
  if (a.activityTaskFailedEventAttributes) return `sched=${a.activityTaskFailedEventAttributes.scheduledEventId} ${a.activityTaskFailedEventAttributes.failure?.message ?? ''}`.slice(0, 120);
  if (a.activityTaskTimedOutEventAttributes) return `sched=${a.activityTaskTimedOutEventAttributes.scheduledEventId}`;
  if (a.activityTaskStartedEventAttributes) return `sched=${a.activityTaskStartedEventAttributes.scheduledEventId} attempt=${a.activityTaskStartedEventAttributes.attempt}`;
  if (a.workflowExecutionSignaledEventAttributes) return `${a.workflowExecutionSignaledEventAttributes.signalName}`;
  if (a.workflowExecutionUpdateAcceptedEventAttributes) {
    const u = a.workflowExecutionUpdateAcceptedEventAttributes;
    return `${u.acceptedRequest?.input?.name} ${u.protocolInstanceId} seq=${u.acceptedRequestSequencingEventId}`;
  }
  if (a.workflowExecutionUpdateAdmittedEventAttributes) return `${a.workflowExecutionUpdateAdmittedEventAttributes.request?.input?.name}`;
  if (a.workflowExecutionUpdateCompletedEventAttributes) return `${a.workflowExecutionUpdateCompletedEventAttributes.meta?.updateId}`;
  if (a.timerStartedEventAttributes) return `timer=${a.timerStartedEventAttributes.timerId} ${Number(a.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0)}s`;
  if (a.timerFiredEventAttributes) return `timer=${a.timerFiredEventAttributes.timerId}`;
  if (a.startChildWorkflowExecutionInitiatedEventAttributes) return `${a.startChildWorkflowExecutionInitiatedEventAttributes.workflowType?.name} ${a.startChildWorkflowExecutionInitiatedEventAttributes.workflowId}`;
  if (a.childWorkflowExecutionStartedEventAttributes) return `initiated=${a.childWorkflowExecutionStartedEventAttributes.initiatedEventId}`;
  if (a.startChildWorkflowExecutionFailedEventAttributes) return `initiated=${a.startChildWorkflowExecutionFailedEventAttributes.initiatedEventId} cause=${a.startChildWorkflowExecutionFailedEventAttributes.cause}`;
  if (a.markerRecordedEventAttributes) return `${a.markerRecordedEventAttributes.markerName}`;
  if (a.workflowTaskStartedEventAttributes) {
    const s = a.workflowTaskStartedEventAttributes;
    return `${s.suggestContinueAsNew ? 'suggest-can ' : ''}identity=${s.identity ?? ''}`;
  }
  if (a.workflowTaskScheduledEventAttributes) return `attempt=${a.workflowTaskScheduledEventAttributes.attempt}`;
  if (a.workflowTaskFailedEventAttributes) return `cause=${a.workflowTaskFailedEventAttributes.cause} ${a.workflowTaskFailedEventAttributes.failure?.message ?? ''}`.slice(0, 160);
  if (a.workflowTaskCompletedEventAttributes) return `identity=${a.workflowTaskCompletedEventAttributes.identity ?? ''}`;
  if (a.requestCancelExternalWorkflowExecutionInitiatedEventAttributes) return `${a.requestCancelExternalWorkflowExecutionInitiatedEventAttributes.workflowExecution?.workflowId}`;
  return '';
}

/** One line per event: id, time (s.ms within the minute), type and what identifies it. */
export function listEvents(history: History, from = 1, to = Number.MAX_SAFE_INTEGER): string[] {
  const lines: string[] = [];
  for (const e of history.events ?? []) {
    const id = Number(e.eventId);
    if (id < from || id > to) continue;
    const t = e.eventTime ? new Date(Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6)).toISOString().slice(14, 23) : '';
    lines.push(`${String(id).padStart(5)} ${t} ${typeName(e)} ${detail(e)}`.trimEnd());
  }
  return lines;
}

/** The event id a nondeterminism error names (`event_id: N`), if any. */
export function failingEventId(error: string): number | undefined {
  const m = /event_id: (\d+)/.exec(error);
  return m ? Number(m[1]) : undefined;
}
