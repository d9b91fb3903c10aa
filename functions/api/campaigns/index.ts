import { createRouter } from "../../_shared/app.ts";
import { cancel, create, get, launch, list, pause, preview, resume, stats } from "./handlers.ts";
import {
  cancelCampaign,
  createCampaign,
  getCampaign,
  getCampaignStats,
  launchCampaign,
  listCampaigns,
  pauseCampaign,
  previewCampaign,
  resumeCampaign,
} from "./routes.ts";

export default createRouter()
  .openapi(listCampaigns, list)
  .openapi(createCampaign, create)
  .openapi(getCampaign, get)
  .openapi(previewCampaign, preview)
  .openapi(launchCampaign, launch)
  .openapi(pauseCampaign, pause)
  .openapi(resumeCampaign, resume)
  .openapi(cancelCampaign, cancel)
  .openapi(getCampaignStats, stats);
