// /api/tasks: the agents' call tasks the cadence opens (a -15 day call to a high-value customer),
// escalated to the manager when their SLA passes. RLS shows a caller their own tasks, those
// escalated to them and their team's; the assignee, or the manager it is escalated to (its
// current holder), closes or snoozes one.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** A task: a call to make about a case, due by its SLA. */
export const TaskSchema = z.object({
  id: z.guid(),
  case_id: z.guid(),
  case_number: z.string(),
  customer_name: z.string(),
  assignee_id: z.guid(),
  kind: z.string().openapi({ example: "call" }),
  status: z.enum(["open", "snoozed", "done"]),
  outcome: orNull(z.string()),
  due_at: DateTime,
  sla_due_at: DateTime,
  snoozed_until: orNull(DateTime),
  done_at: orNull(DateTime),
  escalation_level: z.number().int().openapi({
    description: "0: with the assignee; 1: escalated to their manager; 2: the next level up ...",
  }),
  escalated_to: orNull(z.guid()),
}).openapi("Task");

export const TaskQuery = z.object({
  scope: z.enum(["mine", "team"]).default("mine").openapi({
    description: "mine: assigned or escalated to me; team: every task I may see",
  }),
  status: z.enum(["open", "snoozed", "done"]).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** GET /tasks. */
export const listTasks = createRoute({
  operationId: "listTasks",
  method: "get",
  path: "/tasks",
  tags: ["Tasks"],
  summary: "My tasks, or my team's, soonest due first",
  ...signedIn,
  request: { query: TaskQuery },
  responses: {
    200: json("Tasks", z.object({ data: z.array(TaskSchema) })),
    ...commonProblems,
  },
});

/** A task closed with its outcome, or snoozed until a time. */
export const TaskUpdateSchema = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("done"),
    outcome: z.string().trim().min(3).max(2000).openapi({ example: "Customer will pay by Friday" }),
  }),
  z.object({
    status: z.literal("snoozed"),
    snoozed_until: z.iso.datetime({ offset: true }).openapi({
      description: "When to be reminded again; in the future, at most 30 days ahead. Once it " +
        "has passed the task is open again (within a minute).",
    }),
  }),
]).openapi("TaskUpdate");

/** PATCH /tasks/{id}. */
export const updateTask = createRoute({
  operationId: "updateTask",
  method: "patch",
  path: "/tasks/{id}",
  tags: ["Tasks"],
  summary: "Close a task with its outcome, or snooze it",
  description: "The assignee changes their task, and so does the manager it is escalated to " +
    "(escalated_to, its current holder); nobody else, not even the managers above the holder. " +
    "A done task stays done. A snoozed task is open again once snoozed_until has passed (within " +
    "a minute). Snoozing does not stop the SLA: a snoozed task escalates at its breach.",
  ...signedIn,
  request: {
    params: z.object({ id: uuidParam("id", "Task id") }),
    body: jsonBody(TaskUpdateSchema),
  },
  responses: {
    200: json("The task", TaskSchema),
    ...commonProblems,
    404: problem("No such task, or not yours to change"),
    422: problem("The request did not match the schema, or the task is already done"),
  },
});
