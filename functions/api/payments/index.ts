import { createRouter } from "../../_shared/app.ts";
import { createLink, createOrder, history, refund, verify } from "./handlers.ts";
import {
  createPaymentLink,
  createPaymentOrder,
  getPaymentHistory,
  refundPayment,
  verifyPayment,
} from "./routes.ts";

export default createRouter()
  .openapi(createPaymentOrder, createOrder)
  .openapi(verifyPayment, verify)
  .openapi(createPaymentLink, createLink)
  .openapi(getPaymentHistory, history)
  .openapi(refundPayment, refund);
