// Function names for operation stacks and lock sites. Code pushes a small
// integer (no string building on hot paths); reports look the names up.

export enum F {
  none,
  pcpu_alloc, free_percpu, pcpu_reclaim, pcpu_extend_area_map, pcpu_alloc_area, pcpu_free_area,
  pcpu_populate_chunk, pcpu_depopulate_chunk, pcpu_create_chunk, pcpu_destroy_chunk,
  pcpu_get_pages_and_bitmap, pcpu_alloc_pages, pcpu_map_pages, pcpu_unmap_pages, pcpu_free_pages,
  pcpu_chunk_addr_search, pcpu_chunk_relocate, pcpu_setup_first_chunk,
  kzalloc, kfree, vmalloc, vfree, alloc_pages, free_pages, pcpu_get_vm_areas, pcpu_free_vm_areas,
  schedule_work, flush_work, process_one_work, handle_irq, irq_free_percpu,
  cpu_program, boot_alloc, leak_check, percpu_access, test_body,
  per_cpu_ptr_to_phys, is_kernel_percpu_address,
  // Linux 4.1
  cancel_work_sync, pcpu_balance_workfn, pcpu_map_extend_workfn, pcpu_need_to_extend, pcpu_fit_in_area,
  pcpu_chunk_populated, pcpu_chunk_depopulated, pcpu_count_occupied_pages, percpu_init_late, pcpu_get_pages,
  pcpu_post_unmap_tlb_flush, irq_alloc_percpu, softirq_alloc_percpu, pcpu_free_area_irq,
}

export const SITE_NAMES: readonly string[] = Object.keys(F).filter((k) => Number.isNaN(Number(k)));

export function siteName(site: number): string {
  return F[site] ?? `site#${site}`;
}
