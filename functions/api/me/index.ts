import { requireUser } from "../../_shared/auth.ts";
import { createRouter } from "../../_shared/app.ts";
import { me } from "./handlers.ts";
import { getMe } from "./routes.ts";

const router = createRouter();
router.use("/me", requireUser);
export default router.openapi(getMe, me);
