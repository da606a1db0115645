export interface DashboardFile {
  name: string;
  bytes: number;
  gzipBytes: number;
}
/** Builds the dashboard into `outDir` (default dist/public). */
export function buildDashboard(options?: {
  outDir?: string;
}): Promise<{ outDir: string; files: DashboardFile[] }>;
