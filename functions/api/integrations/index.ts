import { createRouter } from "../../_shared/app.ts";
import { connect, disconnect, staffLink, status, verify } from "./handlers.ts";
import {
  connectSocial,
  disconnectSocial,
  socialStatus,
  telegramStaffLinkRoute,
  verifySocial,
} from "./routes.ts";

export default createRouter()
  .openapi(connectSocial, connect)
  .openapi(socialStatus, status)
  .openapi(verifySocial, verify)
  .openapi(disconnectSocial, disconnect)
  .openapi(telegramStaffLinkRoute, staffLink);
