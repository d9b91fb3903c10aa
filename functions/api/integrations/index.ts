import { createRouter } from "../../_shared/app.ts";
import { connect, disconnect, status, verify } from "./handlers.ts";
import { connectSocial, disconnectSocial, socialStatus, verifySocial } from "./routes.ts";

export default createRouter()
  .openapi(connectSocial, connect)
  .openapi(socialStatus, status)
  .openapi(verifySocial, verify)
  .openapi(disconnectSocial, disconnect);
