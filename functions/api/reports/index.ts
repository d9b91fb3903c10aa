import { createRouter } from "../../_shared/app.ts";
import { csv, get, list } from "./handlers.ts";
import { getReport, getReportCsv, listReports } from "./routes.ts";

export default createRouter()
  .openapi(listReports, list)
  .openapi(getReport, get)
  .openapi(getReportCsv, csv);
