import { createRouter } from "../../_shared/app.ts";
import { me } from "./handlers.ts";
import { getMe } from "./routes.ts";

export default createRouter().openapi(getMe, me);
