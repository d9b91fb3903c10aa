import { createRouter } from "../../_shared/app.ts";
import { health } from "./handlers.ts";
import { getHealth } from "./routes.ts";

export default createRouter().openapi(getHealth, health);
